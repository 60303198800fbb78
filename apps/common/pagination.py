from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

# The largest page or page size a query may name: nine digits.
MAX_QUERY_NUMBER = 999_999_999


def _positive_number(raw: str) -> bool:
    """1 to MAX_QUERY_NUMBER in ASCII digits (str.isdigit also takes "\\u00b2", which int refuses)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 9 and int(raw) >= 1


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` → {count, next, previous, results}. page_size is capped, not refused."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):  # type: ignore[no-untyped-def]
        for name in (self.page_query_param, self.page_size_query_param):
            raw = request.query_params.get(name)
            if raw is not None and raw != "last" and not _positive_number(raw):
                raise ValidationError({name: ["Must be a positive whole number."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise NotFound("That page does not exist.") from exc

    def get_schema_operation_parameters(self, view):  # type: ignore[no-untyped-def]
        """The bounds the checks above enforce: whole numbers from 1 (a larger page_size is capped)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {**parameter["schema"], "minimum": 1, "maximum": MAX_QUERY_NUMBER}
        return parameters
