"""clicksift: tell people from machines in email engagement."""

__version__ = "0.1.0"
