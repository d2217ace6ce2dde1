"""The Textual terminal app on top of `kvtui.core`. Import `kvtui.app.main` lazily: Textual is heavy."""
