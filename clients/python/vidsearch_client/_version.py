"""The SDK's release (sent in the user agent; `vidsearch-client --version`)."""

VERSION = "0.1.0"
