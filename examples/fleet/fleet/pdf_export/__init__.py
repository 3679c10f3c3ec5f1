"""The pdf-export service: a renderer server and the RPC client that calls it."""
