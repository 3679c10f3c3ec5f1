"""The codemod runner: discovery, source decoding, worker processes, partial parse, report."""
