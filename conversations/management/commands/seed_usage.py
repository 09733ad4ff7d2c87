"""`manage.py seed_usage`: fills the database with many users, conversations, billed replies and
their ledger entries, fast (bulk inserts in batches), to measure the usage pages at scale. The
replies are spread over the last --months months (12) up to now, or all in one --month. The
users' month rows (UsageMonth) and the daily rollups are set to the ledger's sums, as billing
would have left them. With --text, messages, replies and titles are varied searchable text
(conversations/management/seed_text.py) instead of the same few words."""

import datetime
import random
import time
import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from conversations.management.seed_text import TextMaker
from conversations.models import AIModel, Conversation, Reply, UsageEntry, UsageMonth
from conversations.models.rollup import rebuild_rollups
from conversations.models.usage import month_start, next_month

PREFIX = "seed"


class Command(BaseCommand):
    help = "Seed users, conversations, replies and their usage ledger (bulk, fast)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--replies", type=int, default=10_000)
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--models", type=int, default=5)
        parser.add_argument("--groups", type=int, default=10)
        parser.add_argument("--replies-per-conversation", type=int, default=10)
        parser.add_argument("--month", help="YYYY-MM: all replies in this month")
        parser.add_argument("--months", type=int, default=12, help="else: the last N months")
        parser.add_argument("--batch", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--text", action="store_true", help="varied searchable text (English and Chinese)"
        )

    def handle(self, *args, **options) -> None:
        if options["month"]:
            first = last = _parse_month(options["month"])
        else:
            last = first = month_start()
            for _month in range(max(options["months"], 1) - 1):
                first = month_start(_midnight(first) - datetime.timedelta(days=1))
        if min(options["users"], options["models"], options["replies"]) < 1:
            raise CommandError("--replies, --users and --models must be at least 1")
        started = time.monotonic()
        rng = random.Random(options["seed"])
        run = uuid.uuid4().hex[:6]  # seeding twice adds a second set of users
        models = _models(options["models"])
        users = _users(run, options["users"], max(options["groups"], 1))
        inserted = _replies(rng, (first, last), models, users, options)
        _month_rows(users)
        rebuild_rollups()
        self.stdout.write(
            f"seeded {inserted} replies for {len(users)} users and {len(models)} models from "
            f"{first:%Y-%m} to {last:%Y-%m} in {time.monotonic() - started:.1f}s"
        )


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _parse_month(value: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--month must look like 2026-11, not {value!r}") from None


def _models(count: int) -> list[AIModel]:
    """Catalogue entries seed-model-0..n; the last one has no price ("price not set")."""
    models = []
    for index in range(count):
        priced = index < count - 1 or count == 1
        model, _created = AIModel.objects.get_or_create(
            model_id=f"{PREFIX}-model-{index}",
            defaults={
                "sort_order": 100 + index,
                "input_price": Decimal(index + 1) if priced else None,
                "cached_input_price": Decimal(index + 1) / 4 if priced else None,
                "output_price": Decimal(4 * (index + 1)) if priced else None,
            },
        )
        models.append(model)
    return models


def _users(run: str, count: int, groups: int) -> list[tuple[object, str]]:
    """(user, group name) pairs; every user is in one of `groups` departments."""
    User = get_user_model()
    password = make_password(None)
    departments = [Group.objects.get_or_create(name=f"{PREFIX}-dept-{i}")[0] for i in range(groups)]
    created = User.objects.bulk_create(
        [User(username=f"{PREFIX}-{run}-{i:05d}", password=password) for i in range(count)]
    )
    Membership = User.groups.through
    Membership.objects.bulk_create(
        [
            Membership(user_id=user.pk, group_id=departments[i % groups].pk)
            for i, user in enumerate(created)
        ]
    )
    return [(user, departments[i % groups].name) for i, user in enumerate(created)]


def _replies(rng, months, models, users, options) -> int:
    total, per_conversation = options["replies"], max(options["replies_per_conversation"], 1)
    start, end = _midnight(months[0]), _midnight(next_month(months[1]))
    if start < timezone.now() < end:
        end = timezone.now()  # nothing in the future
    # Conversations start at random moments, inserted in time order as a real ledger grows
    # (rows of a day sit together on disk); their turns are a minute apart.
    span = max((end - start).total_seconds() - 60 * per_conversation, 1.0)
    text = None
    if options["text"]:  # each seed's rare words its own (seeding again adds to the database)
        text = TextMaker(random.Random(options["seed"]), first_rare=options["seed"] * 10**7)
    starts = iter(sorted(rng.random() * span for _ in range(-(-total // per_conversation))))
    done = 0
    while done < total:
        size = min(options["batch"], total - done)
        conversations, replies, entries = [], [], []
        for offset in range(0, size, per_conversation):
            user, group = users[(done + offset) // per_conversation % len(users)]
            model = rng.choice(models)
            began = start + datetime.timedelta(seconds=next(starts))
            chinese = text is not None and text.is_chinese()
            conversation = {
                "id": uuid.uuid4(),
                "owner_id": user.pk,
                "title": f"Seeded conversation {done + offset}",
                "model": model.model_id,
                "created_at": began,
                "updated_at": began,
            }
            conversations.append(conversation)
            parent_id = None  # each turn follows the one before it (see Reply.parent)
            for position in range(min(per_conversation, size - offset)):
                when = min(began + datetime.timedelta(minutes=position), end)
                reply, entry = _reply(rng, conversation, user, group, model, when, position)
                if text is not None:
                    reply["user_input"] = text.message(chinese)
                    reply["text"] = text.reply(chinese)
                    if position == 0:
                        conversation["title"] = Conversation().title_from_message(
                            reply["user_input"]
                        )
                reply["parent_id"], parent_id = parent_id, reply["id"]
                replies.append(reply)
                entries.append(entry)
        with transaction.atomic():
            _insert(Conversation, conversations)
            _insert(Reply, replies)
            _insert(UsageEntry, entries)
        done += size
    return done


def _reply(rng, conversation, user, group, model, when, position):
    """A completed reply and its ledger entry, as column values (attname: value)."""
    input_tokens = rng.randint(200, 4000)
    cached = rng.randint(0, input_tokens // 2)
    output_tokens = rng.randint(50, 2000)
    reasoning = rng.randint(0, output_tokens // 3)
    cost = model.cost_of(input_tokens, cached, output_tokens)
    currency = model.currency if cost is not None else ""
    reply = {
        "id": uuid.uuid4(),
        "conversation_id": conversation["id"],
        "user_id": user.pk,
        "position": position,
        "user_input": "Seeded question",
        "text": "Seeded answer",
        "status": Reply.Status.COMPLETED.value,
        "model": model.model_id,
        "input_tokens": input_tokens,
        "input_cached_tokens": cached,
        "output_tokens": output_tokens,
        "reasoning_tokens": reasoning,
        "total_tokens": input_tokens + output_tokens,
        "cost": cost,
        "cost_currency": currency,
        "created_at": when,
        "finished_at": when,
    }
    entry = {
        "reply_id": reply["id"],
        "conversation_id": conversation["id"],
        "user_id": user.pk,
        "group_name": group,
        "model": model.model_id,
        "month": month_start(when),
        "input_tokens": input_tokens,
        "cached_tokens": cached,
        "output_tokens": output_tokens,
        "reasoning_tokens": reasoning,
        "total_tokens": input_tokens + output_tokens,
        "cost": cost,
        "currency": currency,
        "estimated": False,
        "created_at": when,
    }
    return reply, entry


def _insert(model, rows: list[dict]) -> None:
    """Inserts rows given as {attname: value}; other columns get the field's default. On
    PostgreSQL through COPY (the ORM's per-value preparation is most of bulk_create's time)."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows])
        return
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and field.attname not in rows[0])  # an auto id
    ]
    # Each column's default, prepared for the database once for the whole batch.
    defaults = {
        field.attname: field.get_db_prep_save(field.get_default(), connection)
        for field in fields
        if field.attname not in rows[0]
    }
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    names = [field.attname for field in fields]
    with connection.cursor() as cursor:
        statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] if name in row else defaults[name] for name in names])


def _month_rows(users) -> None:
    """The seeded users' month rows, equal to their ledger sums (one aggregate query)."""
    sums = (
        UsageEntry.objects.filter(user__in=[user for user, _group in users])
        .values("user_id", "month")
        .annotate(tokens=Sum("total_tokens"), cost=Sum("cost"))
    )
    UsageMonth.objects.bulk_create(
        [
            UsageMonth(
                user_id=row["user_id"],
                month=row["month"],
                tokens_used=row["tokens"],
                cost_used=row["cost"] or 0,
            )
            for row in sums
        ]
    )
