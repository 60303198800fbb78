class IdConverter:
    """A primary key in a URL: 1 to 18 digits, so no id can overflow a BIGINT (or SQLite's INTEGER)
    and reach the database as an error; anything longer simply does not match (404)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
