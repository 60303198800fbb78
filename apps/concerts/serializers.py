from rest_framework import serializers

from . import selectors
from .models import Concert, ConcertDate, SeatStatus, Venue


class VenueBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Venue
        fields = ["id", "name"]


class VenueSerializer(serializers.ModelSerializer):
    class Meta:
        model = Venue
        fields = ["id", "name", "address", "seat_count"]


class ConcertDateSerializer(serializers.ModelSerializer):
    remaining_seats = serializers.SerializerMethodField()
    is_available = serializers.SerializerMethodField()

    class Meta:
        model = ConcertDate
        fields = ["id", "starts_at", "booking_opens_at", "total_seats", "remaining_seats", "is_available"]

    def get_remaining_seats(self, concert_date: ConcertDate) -> int:
        return selectors.remaining_seats(concert_date)

    def get_is_available(self, concert_date: ConcertDate) -> bool:
        return selectors.is_available(concert_date)


class ConcertListSerializer(serializers.ModelSerializer):
    venue = VenueBriefSerializer()
    first_date = serializers.DateTimeField(allow_null=True)
    last_date = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = Concert
        fields = ["id", "name", "artist", "venue", "first_date", "last_date"]


class ConcertDetailSerializer(serializers.ModelSerializer):
    venue = VenueSerializer()
    dates = ConcertDateSerializer(many=True)

    class Meta:
        model = Concert
        fields = ["id", "name", "artist", "description", "venue", "dates"]


class SeatSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seat_num = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=SeatStatus.choices)
