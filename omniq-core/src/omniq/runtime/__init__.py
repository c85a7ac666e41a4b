"""The task runtime: the apps (:class:`~omniq.runtime.async_app.AsyncOmniQ`,
:class:`~omniq.runtime.sync_app.OmniQ`), the worker, and what they share (codec, function
registry, event sink). Submodules are imported on use so ``import omniq`` stays cheap."""
