"""Errors the command line reports as one clear message rather than a traceback."""


class PipelineError(Exception):
    """Base of the pipeline's own errors."""


class SettingsError(PipelineError, ValueError):
    """A setting has a value the pipeline cannot use."""


class RunFailedError(PipelineError, RuntimeError):
    """A Dagster run over a partition range did not succeed."""


class UnsafeNameError(PipelineError, ValueError):
    """A name from configuration or data that would reach SQL text or a file path is not a plain name."""


class RunLockedError(PipelineError, RuntimeError):
    """Another run holds the data folder's run lock."""
