"""Engines that turn a list of messages into a streamed reply."""
