"""``omniq.config``: the same configuration records as :mod:`omniq.models.config`."""

from omniq.models.config import OmniQConfig, StorageBackendConfig

__all__ = ["OmniQConfig", "StorageBackendConfig"]
