"""Widgets of the chat app: transcript, prompt, status bar, sidebar."""
