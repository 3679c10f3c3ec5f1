"""The http service: the company's HTTP/1.1 client (h11 for the protocol, pooled keep-alive)."""
