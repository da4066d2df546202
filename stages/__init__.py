"""DVC stage entry points: read params, call `advgrad`, write outputs atomically."""
