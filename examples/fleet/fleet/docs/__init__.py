"""The docs service: documents stored in MariaDB."""
