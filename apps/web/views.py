from django.conf import settings
from django.views.generic import TemplateView


class BuyerPageView(TemplateView):
    """The buyer's page: static HTML and one ES module that talks to the public API only."""

    template_name = "web/index.html"

    def get_context_data(self, **kwargs: object) -> dict:
        return {**super().get_context_data(**kwargs), "max_seats": settings.MAX_SEATS_PER_RESERVATION}
