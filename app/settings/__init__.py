"""The configuration and its secrets: parsing, validation, the password's sources."""
