from rest_framework import serializers

from .models import Ticket, TicketStatus
from .selectors import code_of


class TicketSeatSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seat_num = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()


class TicketSerializer(serializers.ModelSerializer):
    seat = TicketSeatSerializer()
    code = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=TicketStatus.choices)

    class Meta:
        model = Ticket
        fields = ["id", "seat", "code", "status"]
        read_only_fields = fields

    def get_code(self, ticket: Ticket) -> str:
        return code_of(ticket)
