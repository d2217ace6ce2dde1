"""The app's own widgets: header, resource table, serial console, log view."""
