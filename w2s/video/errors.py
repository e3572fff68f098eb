"""The one error the video layer raises for unreadable input."""


class VideoDecodeError(Exception):
    """A video could not be opened or decoded. Carries the URI and a short reason."""

    def __init__(self, uri: str, reason: str):
        self.uri = str(uri)
        self.reason = reason
        super().__init__(f"{self.uri}: {reason}")

    def __reduce__(self):  # picklable across processes / Ray tasks
        return (VideoDecodeError, (self.uri, self.reason))
