"""Errors a user can act on: each message says what is wrong and what to fix."""


class ForgeMLError(Exception):
    """Base class for errors caused by the user's data or configuration (exit code 2)."""


class ConfigError(ForgeMLError):
    """A parameter names something that does not exist or has an invalid value."""


class DataError(ForgeMLError):
    """The input data cannot be used as it is (missing file, missing column, wrong type)."""


class DataValidationError(DataError):
    """The data broke one or more expectations; ``failures`` lists them."""

    def __init__(self, message: str, failures: list[dict], docs_path: str | None = None):
        super().__init__(message)
        self.failures = failures
        self.docs_path = docs_path


class RegistryError(ForgeMLError):
    """The model registry could not be read or written: nothing was moved, and nothing is assumed."""


class TrainingDiverged(ForgeMLError):
    """A loss became NaN or infinite: the weights are not a model."""


class RegistryBusy(RegistryError):
    """Another process held the registry lock past the wait timeout: nothing was moved."""


class AuditLogError(RegistryError):
    """The audit log has a line that is not a record: no alias moves until it is repaired."""


class ModelFileError(ForgeMLError):
    """A model file is not in a form ForgeML writes: it is not loaded."""
