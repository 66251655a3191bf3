"""vidsearch gRPC client SDK."""
