"""Staff run venues, concerts, dates and prices here. Nothing in it can break an invariant: seat
status, holds and inventory counts are read-only, a date's seats are created by the service that
creates the date, and a date or concert with bookings cannot be deleted."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.admin import ReadOnlyAdminMixin

from . import selectors, services
from .models import Concert, ConcertDate, Inventory, Seat, SeatStatus, Venue
from .selectors import forget_dates


class VenueForm(forms.ModelForm):
    class Meta:
        model = Venue
        fields = ["name", "address", "layout"]
        help_texts = {
            "layout": 'Sections: [{"name": "VIP", "rows": 2, "seats_per_row": 10, "price": "150000.00"}, …]. '
            "Dates created later take their seats from it."
        }

    def clean_layout(self) -> list:
        try:
            return services.validate_layout(self.cleaned_data["layout"])
        except services.ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    form = VenueForm
    list_display = ["name", "address", "seat_count"]
    search_fields = ["name", "address"]
    readonly_fields = ["seat_count"]

    def save_model(self, request: HttpRequest, obj: Venue, form: Any, change: bool) -> None:
        obj.seat_count = services.layout_seat_count(obj.layout)
        super().save_model(request, obj, form, change)


def has_bookings(concert_date_ids: Any) -> bool:
    """Any seat of these dates held or reserved. (Reservation rows that ever named a date protect it
    as well: the delete page lists them and refuses.)"""
    return Seat.objects.filter(concert_date_id__in=concert_date_ids).exclude(status=SeatStatus.AVAILABLE).exists()


class ConcertDateInline(admin.TabularInline):
    model = ConcertDate
    fields = ["starts_at", "booking_opens_at", "booking_open", "total_seats", "remaining"]
    readonly_fields = ["starts_at", "booking_opens_at", "booking_open", "total_seats", "remaining"]
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> Any:
        return selectors.with_remaining(super().get_queryset(request))

    @admin.display(description="remaining")
    def remaining(self, obj: ConcertDate) -> int:
        return selectors.remaining_seats(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # dates are added on their own page, where their seats are created


@admin.register(Concert)
class ConcertAdmin(admin.ModelAdmin):
    list_display = ["name", "artist", "venue"]
    list_filter = ["venue"]
    search_fields = ["name", "artist"]
    list_select_related = ["venue"]
    inlines = [ConcertDateInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Concert | None = None) -> list[str]:
        # A concert's dates have seats laid out for its venue: the venue is fixed once it has dates.
        return ["venue"] if obj is not None and obj.dates.exists() else []

    # Deleting a concert with dates is refused by the PROTECT foreign key: the page lists the dates.


class ConcertDateForm(forms.ModelForm):
    class Meta:
        model = ConcertDate
        fields = ["concert", "starts_at", "booking_opens_at", "booking_open"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("starts_at") and data.get("booking_opens_at") and data["booking_opens_at"] >= data["starts_at"]:
            raise forms.ValidationError("Booking must open before the show starts.")
        return data


@admin.register(ConcertDate)
class ConcertDateAdmin(admin.ModelAdmin):
    form = ConcertDateForm
    list_display = ["id", "concert", "starts_at", "booking_opens_at", "booking_open", "total_seats", "remaining"]
    list_filter = ["booking_open", "concert__venue", "concert"]
    search_fields = ["concert__name", "concert__artist"]
    list_select_related = ["concert"]
    date_hierarchy = "starts_at"
    actions = ["open_booking", "close_booking"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return selectors.with_remaining(super().get_queryset(request))

    @admin.display(description="remaining")
    def remaining(self, obj: ConcertDate) -> int:
        return selectors.remaining_seats(obj)

    def get_readonly_fields(self, request: HttpRequest, obj: ConcertDate | None = None) -> list[str]:
        return ["concert", "total_seats", "remaining"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ConcertDate, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            forget_dates()  # booking_open or the window may have changed: the hot paths' facts too
            return
        created = services.create_concert_date(
            concert=obj.concert, starts_at=obj.starts_at, booking_opens_at=obj.booking_opens_at
        )
        if not obj.booking_open:
            services.set_booking_open(concert_date_ids=[created.pk], is_open=False)
        obj.pk = created.pk
        obj.refresh_from_db()

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        # Seats and the inventory row belong to the date and go with it; their own admins refuse
        # deleting them one by one, which must not block deleting a date that has no bookings.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = perms_needed - {Seat._meta.verbose_name, Inventory._meta.verbose_name}
        # A date whose seats are held or reserved is shown as protected, so that both the delete page
        # and the bulk action answer "Cannot delete" with the reason instead of deleting.
        booked = [obj for obj in objs if has_bookings([obj.pk])]
        protected = [*protected, *(f"{obj}: seats are held or reserved; close its booking instead" for obj in booked)]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: ConcertDate) -> None:
        self.delete_queryset(request, ConcertDate.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ConcertDate]) -> None:
        # Each date through the service, which re-checks under the seat locks: the page was
        # rendered before, and a hold may have landed since.
        refused = []
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.delete_concert_date(concert_date_id=pk)
            except (services.Conflict, services.NotFound) as exc:
                refused.append(f"date {pk}: {exc.message}")
        if refused:
            self.message_user(request, "Not deleted: " + "; ".join(refused), messages.ERROR)

    @admin.action(description="Open booking for the selected dates")
    def open_booking(self, request: HttpRequest, queryset: QuerySet[ConcertDate]) -> None:
        count = services.set_booking_open(concert_date_ids=list(queryset.values_list("pk", flat=True)), is_open=True)
        self.message_user(request, f"Booking opened for {count} date(s).")

    @admin.action(description="Close booking for the selected dates")
    def close_booking(self, request: HttpRequest, queryset: QuerySet[ConcertDate]) -> None:
        count = services.set_booking_open(concert_date_ids=list(queryset.values_list("pk", flat=True)), is_open=False)
        self.message_user(request, f"Booking closed for {count} date(s).")


class SeatPriceForm(forms.ModelForm):
    class Meta:
        model = Seat
        fields = ["price"]

    def clean_price(self) -> Any:
        if self.instance.status != SeatStatus.AVAILABLE:
            raise forms.ValidationError("The price of a held or reserved seat cannot change.")
        if self.cleaned_data["price"] < 0:
            raise forms.ValidationError("A price cannot be negative.")
        return self.cleaned_data["price"]


@admin.register(Seat)
class SeatAdmin(admin.ModelAdmin):
    form = SeatPriceForm
    list_display = ["id", "concert_date", "section", "row", "seat_num", "price", "status", "held_until"]
    list_filter = ["status", "section", "concert_date__concert"]
    search_fields = ["=concert_date__id", "=seat_num", "section"]
    list_select_related = ["concert_date__concert"]
    readonly_fields = ["concert_date", "venue", "section", "row", "seat_num", "status", "held_until", "version"]
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Seat, form: Any, change: bool) -> None:
        try:
            services.set_seat_price(seat_id=obj.pk, price=obj.price)
        except services.Conflict as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # seats come from the venue layout when a date is created

    def has_delete_permission(self, request: HttpRequest, obj: Seat | None = None) -> bool:
        return False


@admin.register(Inventory)
class InventoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["concert_date", "shard", "concert", "total", "remaining", "version", "updated_at"]
    list_select_related = ["concert_date__concert", "concert"]
    readonly_fields = ["concert", "concert_date", "total", "remaining", "version"]
