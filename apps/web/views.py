from django.conf import settings
from django.views.generic import TemplateView


class BuyerPageView(TemplateView):
    """The buyer's page: static HTML and ES modules that talk to the public API only. The few settings
    the page needs ride on `<body data-…>`."""

    template_name = "web/index.html"

    def get_context_data(self, **kwargs: object) -> dict:
        return {
            **super().get_context_data(**kwargs),
            "max_seats": settings.MAX_SEATS_PER_RESERVATION,
            "status_poll_seconds": settings.SEAT_STATUS_POLL_SECONDS,
        }


class CheckinPageView(TemplateView):
    """The door's page for staff: it logs in and checks tickets in through the public API, as any
    scanner would (POST /api/checkin refuses anyone but staff)."""

    template_name = "web/checkin.html"
