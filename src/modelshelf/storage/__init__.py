"""Download URLs for the objects in DVC remotes: a signer per kind of storage (S3, Azure Blob, Google Cloud
Storage, plain HTTP), chosen by the remote's URL and configured from the server's `[[storage]]` entries."""
