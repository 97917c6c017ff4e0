"""The HTTP and WebSocket surface: thin routes that validate, make one call and answer."""
