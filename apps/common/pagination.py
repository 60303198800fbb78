from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` → {count, next, previous, results}. page_size is capped, not refused."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):  # type: ignore[no-untyped-def]
        for name in (self.page_query_param, self.page_size_query_param):
            raw = request.query_params.get(name)
            if raw is not None and raw != "last" and (not raw.isdigit() or int(raw) < 1 or len(raw) > 9):
                raise ValidationError({name: ["Must be a positive whole number."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise NotFound("That page does not exist.") from exc

    def get_schema_operation_parameters(self, view):  # type: ignore[no-untyped-def]
        """The bounds the checks above enforce: whole numbers from 1 (a larger page_size is capped)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {**parameter["schema"], "minimum": 1, "maximum": 999_999_999}
        return parameters
