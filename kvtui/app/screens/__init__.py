"""The app's screens: the resource browser, a VM's detail, consoles, dialogs."""
