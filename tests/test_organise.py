"""Organising conversations: pin and archive (POST only, owner only, the sidebar swapped for
htmx, a redirect without JavaScript), the sidebar's order and its generating indicators, the
poll that says when a reply is ready, example prompts and the quota line."""
# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import re
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, QuotaPolicy, Reply, UsageMonth
from conversations.models.chat import UNDO_WINDOW
from conversations.models.usage import month_start
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply
from tests.test_i18n import ZH, untranslated

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
ACTIONS = ["pin", "unpin", "archive", "unarchive"]


def conversation_of(owner, title, generating=False, **fields) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title, model="gpt-5.5", **fields)
    reply = conversation.add_turn(f"About {title}")
    if not generating:
        Reply.objects.filter(pk=reply.pk).update(status=Reply.Status.COMPLETED, text="Done.")
    return conversation


def sidebar_titles(html: str, titles) -> list[str]:
    """The given titles in the order the sidebar shows them."""
    nav = html.split('id="sidebar-list"', 1)[-1].split("</ul>", 1)[0]
    return sorted((t for t in titles if f">{t}<" in nav or f"</span>{t}<" in nav), key=nav.index)


def test_pinned_come_first_then_newest_first(alice, alice_client):
    titles = ["First", "Second", "Third"]
    conversations = [conversation_of(alice, t) for t in titles]
    assert sidebar_titles(alice_client.get("/").text, titles) == ["Third", "Second", "First"]

    response = alice_client.post(f"/c/{conversations[0].pk}/pin/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert Conversation.objects.get(pk=conversations[0].pk).pinned
    page = alice_client.get("/").text
    assert sidebar_titles(page, titles) == ["First", "Third", "Second"]
    assert "Pinned: </span>First" in page and "More actions for “First”" in page
    first_menu = page.split('id="menu-' + str(conversations[0].pk), 1)[1].split("</div>", 1)[0]
    assert "<span>Unpin</span>" in first_menu and "<span>Pin</span>" not in first_menu

    alice_client.post(f"/c/{conversations[0].pk}/unpin/")
    assert sidebar_titles(alice_client.get("/").text, titles) == ["Third", "Second", "First"]


def test_htmx_gets_the_entry_taken_out_and_put_in_its_new_place(alice, alice_client):
    """The rest of the list, however far it was scrolled, stays as it is."""
    older, newer = conversation_of(alice, "Older"), conversation_of(alice, "Newer")

    def pin(conversation, action="pin"):
        response = alice_client.post(
            f"/c/{conversation.pk}/{action}/", {"open": str(older.pk)}, headers=HTMX
        )
        assert response.status_code == 200 and "<html" not in response.text
        assert _entries(response.text) == ([] if action == "archive" else [str(conversation.pk)])
        assert f'<hx-partial hx-target="#sidebar-item-{conversation.pk}" hx-swap="delete">' in (
            response.text
        )
        return response.text

    placed = pin(older)  # the only pinned one: at the end of its group
    assert '<hx-partial hx-target="#sidebar-others" hx-swap="beforebegin">' in placed
    assert f'href="/c/{older.pk}/" aria-current="page"' in placed  # (the open one)
    placed = pin(newer)  # newer activity: before the older pinned one
    assert f'<hx-partial hx-target="#sidebar-item-{older.pk}" hx-swap="beforebegin">' in placed
    assert "aria-current" not in placed
    placed = pin(older, "unpin")  # the last of the others
    assert '<hx-partial hx-target="#sidebar-end" hx-swap="beforebegin">' in placed
    placed = pin(newer, "archive")
    # No entry comes back; the notice offers Undo (unarchiving it).
    notice = placed.split('<hx-partial hx-target="#toasts" hx-swap="innerHTML">', 1)[1]
    assert "beforebegin" not in placed and "Newer" not in placed.split(notice)[0]
    assert "Archived “Newer”." in notice and f'action="/c/{newer.pk}/unarchive/"' in notice


def test_archived_leave_the_sidebar_but_still_open_and_can_come_back(alice, alice_client):
    kept, archived = conversation_of(alice, "Kept"), conversation_of(alice, "Put away")
    alice_client.post(f"/c/{archived.pk}/pin/")

    response = alice_client.post(f"/c/{archived.pk}/archive/", {"open": str(archived.pk)})

    assert response.status_code == 302 and response["Location"] == f"/c/{archived.pk}/"
    archived.refresh_from_db()
    assert archived.archived and not archived.pinned
    assert sidebar_titles(alice_client.get("/").text, ["Kept", "Put away"]) == ["Kept"]
    page = alice_client.get(f"/c/{archived.pk}/").text
    assert "This conversation is archived" in page and "Unarchive" in page

    partial = alice_client.post(
        f"/c/{archived.pk}/unarchive/", {"open": str(archived.pk)}, headers=HTMX
    ).text
    assert f'<hx-partial hx-target="#sidebar-item-{kept.pk}" hx-swap="beforebegin">' in partial
    assert _entries(partial) == [str(archived.pk)]
    assert '<hx-partial hx-target="#sidebar-archived-note" hx-swap="delete">' in partial
    assert not Conversation.objects.get(pk=archived.pk).archived


def test_a_plain_post_goes_back_to_a_local_next_page_only(alice, alice_client):
    conversation = conversation_of(alice, "Somewhere", archived=True)
    url = f"/c/{conversation.pk}/unarchive/"

    back = alice_client.post(url, {"next": "/search/?archived=1"})
    assert back["Location"] == "/search/?archived=1"
    foreign = alice_client.post(url, {"next": "https://evil.example/", "open": "not-a-uuid"})
    assert foreign["Location"] == "/"


@pytest.mark.parametrize("action", ACTIONS)
def test_another_users_conversation_is_404_and_unchanged(alice, bob_client, action):
    conversation = conversation_of(alice, "Alice's plan", pinned=action == "unpin")
    Conversation.objects.filter(pk=conversation.pk).update(archived=action == "unarchive")
    before = Conversation.objects.values("pinned", "archived").get(pk=conversation.pk)

    for headers in [{}, HTMX]:
        response = bob_client.post(f"/c/{conversation.pk}/{action}/", headers=headers)
        assert response.status_code == 404
        assert b"Alice" not in response.content

    assert Conversation.objects.values("pinned", "archived").get(pk=conversation.pk) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_get_changes_nothing_and_anonymous_visitors_log_in(alice, alice_client, client, action):
    conversation = conversation_of(alice, "Mine")
    url = f"/c/{conversation.pk}/{action}/"

    assert alice_client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Conversation.objects.filter(pinned=False, archived=False).count() == 1


def test_htmx_takes_the_open_conversation_from_the_pages_address(alice, bob, alice_client):
    """After the first send of a new chat the page is that conversation's, while the other
    entries' forms still carry the new-chat page's empty `open` field."""
    open_one = conversation_of(alice, "Open one")
    conversation_of(alice, "Other")
    bobs = conversation_of(bob, "Bob's")

    def pin(address):
        headers = {**HTMX, "HX-Current-URL": address}
        return alice_client.post(f"/c/{open_one.pk}/pin/", {"open": ""}, headers=headers).text

    marked = pin(f"http://testserver/c/{open_one.pk}/")
    assert f'href="/c/{open_one.pk}/" aria-current="page"' in marked
    assert f'name="open" value="{open_one.pk}"' in marked
    for address in [
        "http://testserver/",
        f"http://testserver/c/{bobs.pk}/",
        "junk",
        "http://[::1/",
    ]:
        html = pin(address)
        assert "aria-current" not in html and str(bobs.pk) not in html
    poll = alice_client.get(
        f"/sidebar/?open=&generating={open_one.pk}",
        headers={**HTMX, "HX-Current-URL": f"http://testserver/c/{open_one.pk}/?x=1"},
    ).text
    assert 'aria-current="page"' in poll and "Reply ready" not in poll  # (it is open)


def test_an_entrys_place_for_another_tab_changes_nothing(alice, alice_client):
    """layout.js asks for it when another tab pinned, archived or renamed a conversation."""
    first, later = conversation_of(alice, "First"), conversation_of(alice, "Later")
    Conversation.objects.filter(pk=first.pk).update(pinned=True, title="First, renamed")
    before = Conversation.objects.get(pk=first.pk)
    headers = {**HTMX, "HX-Current-URL": f"http://testserver/c/{later.pk}/"}

    placed = alice_client.get(f"/c/{first.pk}/place/", headers=headers).text

    assert f'hx-target="#sidebar-item-{first.pk}" hx-swap="delete"' in placed
    assert 'hx-target="#sidebar-others" hx-swap="beforebegin"' in placed  # the only pinned one
    assert "First, renamed" in placed and 'aria-current="page"' not in placed
    assert f'name="open" value="{later.pk}"' in placed
    after = Conversation.objects.get(pk=first.pk)
    assert (after.pinned, after.updated_at, after.title) == (True, before.updated_at, before.title)
    Conversation.objects.filter(pk=later.pk).update(archived=True)
    gone = alice_client.get(f"/c/{later.pk}/place/", headers=HTMX).text
    assert f'hx-target="#sidebar-item-{later.pk}" hx-swap="delete"' in gone
    assert "beforebegin" not in gone
    assert alice_client.get(f"/c/{first.pk}/place/").url == f"/c/{first.pk}/"


# --- Undo: an archive's and a delete's notice, and restoring a deleted conversation ---------


def test_a_plain_archive_or_delete_shows_its_notice_with_undo_once_on_the_next_page(
    alice, alice_client
):
    """Without JavaScript the notice waits in the session for the page the post goes back to."""
    archived, deleted = conversation_of(alice, "Put away"), conversation_of(alice, "Thrown away")

    alice_client.post(f"/c/{archived.pk}/archive/")
    page = alice_client.get("/").text
    notice = page.split('<div id="toasts" class="toasts" role="status">', 1)[1].split("</div>")[0]
    assert "Archived “Put away”." in notice
    assert f'<form method="post" action="/c/{archived.pk}/unarchive/">' in notice
    assert "Archived “Put away”" not in alice_client.get("/").text  # once

    alice_client.post(f"/c/{deleted.pk}/delete/")
    page = alice_client.get("/").text
    assert "Deleted “Thrown away”." in page
    assert f'<form method="post" action="/c/{deleted.pk}/restore/">' in page

    restored = alice_client.post(f"/c/{deleted.pk}/restore/", {"next": f"/c/{deleted.pk}/"})
    assert restored.status_code == 302 and restored["Location"] == f"/c/{deleted.pk}/"
    assert Conversation.objects.for_user(alice).filter(pk=deleted.pk).exists()
    assert alice_client.get(f"/c/{deleted.pk}/").status_code == 200


def test_undo_of_a_delete_puts_the_entry_back_in_its_place(alice, alice_client):
    first, second = conversation_of(alice, "First"), conversation_of(alice, "Second")
    headers = {**HTMX, "HX-Current-URL": f"http://testserver/c/{second.pk}/"}

    gone = alice_client.post(f"/c/{first.pk}/delete/", headers=headers)

    assert gone.status_code == 200 and "<html" not in gone.text
    assert f'<hx-partial hx-target="#sidebar-item-{first.pk}" hx-swap="delete">' in gone.text
    assert "Deleted “First”." in gone.text and f"/c/{first.pk}/restore/" in gone.text
    assert not Conversation.objects.for_user(alice).filter(pk=first.pk).exists()

    back = alice_client.post(f"/c/{first.pk}/restore/", headers=headers)

    assert back.status_code == 200
    assert _entries(back.text) == [str(first.pk)]
    assert '<hx-partial hx-target="#sidebar-end" hx-swap="beforebegin">' in back.text
    assert f'<hx-partial hx-target="#toast-{first.pk}" hx-swap="delete">' in back.text
    assert Conversation.objects.get(pk=first.pk).deleted_at is None


def test_deleting_the_open_conversation_with_htmx_goes_to_a_new_chat_with_the_notice(
    alice, alice_client
):
    doomed = conversation_of(alice, "Doomed")
    headers = {**HTMX, "HX-Current-URL": f"http://testserver/c/{doomed.pk}/"}

    response = alice_client.post(f"/c/{doomed.pk}/delete/", headers=headers)

    assert response.status_code == 200 and response["HX-Redirect"] == "/"
    assert "Deleted “Doomed”." in alice_client.get("/").text


def test_undo_is_for_the_owner_only_and_only_for_a_short_while(
    alice, alice_client, bob_client, client
):
    deleted = conversation_of(alice, "Deleted")
    deleted.delete_for_owner()
    url = f"/c/{deleted.pk}/restore/"

    assert bob_client.post(url).status_code == 404
    assert bob_client.post(url, headers=HTMX).status_code == 404
    assert client.post(url)["Location"].startswith("/login/")
    assert alice_client.get(url).status_code == 405
    Conversation.objects.filter(pk=deleted.pk).update(
        deleted_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )
    assert alice_client.post(url).status_code == 404
    assert Conversation.objects.get(pk=deleted.pk).deleted_at is not None
    alive = conversation_of(alice, "Alive")  # never deleted: nothing to undo
    assert alice_client.post(f"/c/{alive.pk}/restore/").status_code == 404


def test_undo_needs_the_csrf_token(alice):
    deleted = conversation_of(alice, "Deleted")
    deleted.delete_for_owner()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.post(f"/c/{deleted.pk}/restore/").status_code == 403
    assert Conversation.objects.get(pk=deleted.pk).deleted_at is not None


def test_a_notice_older_than_undo_allows_is_not_shown(alice, alice_client):
    archived = conversation_of(alice, "Put away")
    alice_client.post(f"/c/{archived.pk}/archive/")
    session = alice_client.session
    session["undo_notice"]["at"] -= UNDO_WINDOW.total_seconds() + 1
    session.save()

    assert "Archived “Put away”" not in alice_client.get("/").text


# --- The menus: one "More" menu per entry and in the header, renaming from the list -------


def test_each_entry_and_the_header_have_one_more_menu_with_every_action(alice, alice_client):
    pinned = conversation_of(alice, "Pinned one", pinned=True)
    other = conversation_of(alice, "Other one")

    page = alice_client.get(f"/c/{other.pk}/").text

    for key, conversation in [(str(pinned.pk), pinned), (str(other.pk), other), ("header", other)]:
        button = re.search(rf'<button type="button" id="more-{key}"[^>]*>', page).group(0)
        assert f'popovertarget="menu-{key}"' in button and 'aria-haspopup="menu"' in button
        assert 'class="icon item-more"' in button
        menu = page.split(f'id="menu-{key}"', 1)[1].split("</div>", 1)[0]
        items = re.findall(r'role="menuitem"[^>]*>.*?<span>([^<]+)</span>', menu)
        pin = "Unpin" if conversation.pinned else "Pin"
        assert items == [
            "Rename",
            pin,
            "Archive",
            "Export as Markdown",
            "Export as JSON",
            "Export with files (.zip)",
            "Delete",
        ]
        pk = conversation.pk
        for url in [
            f"/c/{pk}/?rename=1",
            f"/c/{pk}/export.md",
            f"/c/{pk}/export.json",
            f"/c/{pk}/export.zip",
            f"/c/{pk}/delete/",
            f"/c/{pk}/archive/",
        ]:
            assert url in menu
    assert 'aria-label="More actions for “Pinned one”"' in page
    assert page.count('class="icon item-more"') == 3
    # The header: the title renames (in place), and New chat for phones.
    assert f'<a id="title-link" class="title-rename" href="/c/{other.pk}/?rename=1"' in page
    assert 'class="button icon header-new-chat" href="/" aria-label="New chat"' in page
    assert 'class="rename"' not in page and "Export:" not in page  # the old tools are gone


def test_without_javascript_the_title_becomes_a_box_to_rename_it(alice, alice_client):
    conversation = conversation_of(alice, "Old title")

    page = alice_client.get(f"/c/{conversation.pk}/?rename=1").text

    form = page.split('<form class="rename-form"', 1)[1].split("</form>", 1)[0]
    assert f'action="/c/{conversation.pk}/rename/"' in form
    assert 'id="rename-title" name="title" value="Old title"' in form and "autofocus" in form
    assert "Cancel" in form
    saved = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "New title"})
    assert saved["Location"] == f"/c/{conversation.pk}/"
    assert 'class="rename-form"' not in alice_client.get(saved["Location"]).text


def test_renaming_another_entry_from_the_list_leaves_the_open_page_alone(alice, alice_client):
    shown, other = conversation_of(alice, "Shown"), conversation_of(alice, "Other")
    headers = {**HTMX, "HX-Current-URL": f"http://testserver/c/{shown.pk}/"}

    renamed = alice_client.post(
        f"/c/{other.pk}/rename/", {"title": "Other, renamed"}, headers=headers
    )

    assert _entries(renamed.text) == [str(other.pk)]
    assert "Other, renamed" in renamed.text and "aria-current" not in renamed.text
    assert "head > title" not in renamed.text and "#conversation-title" not in renamed.text
    same = alice_client.post(f"/c/{shown.pk}/rename/", {"title": "Shown, renamed"}, headers=headers)
    assert 'hx-target="head > title" hx-swap="innerHTML">Shown, renamed' in same.text
    assert 'hx-target="#conversation-title"' in same.text
    assert 'aria-current="page"' in same.text


def test_pinning_the_open_conversation_updates_the_headers_menu(alice, alice_client):
    shown = conversation_of(alice, "Shown")
    headers = {**HTMX, "HX-Current-URL": f"http://testserver/c/{shown.pk}/"}

    placed = alice_client.post(f"/c/{shown.pk}/pin/", headers=headers).text

    header = placed.split('<hx-partial hx-target="#chat-header" hx-swap="outerHTML">', 1)[1]
    assert "<span>Unpin</span>" in header.split('id="menu-header"', 1)[1]
    archived = alice_client.post(f"/c/{shown.pk}/archive/", headers=headers).text
    header = archived.split('<hx-partial hx-target="#chat-header" hx-swap="outerHTML">', 1)[1]
    assert "<span>Unarchive</span>" in header and "<span>Archive</span>" not in header


def _entries(html: str) -> list[str]:
    return re.findall(r'<li id="sidebar-item-([0-9a-f-]{36})"', html)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_send_sends_only_its_own_sidebar_entry(alice, fake_upstream, settings):
    """Moved to the top of its group with its "being written" mark, whatever the list's
    length (the whole list was re-sent with every message)."""
    settings.MAX_SENDS_PER_MINUTE = 100  # (the turns made here count as sends)
    make = sync_to_async(conversation_of)
    pinned = await make(alice, "Pinned one", pinned=True)
    others = [await make(alice, f"Older {i}") for i in range(30)]
    client = await logged_in(alice)

    html = (await send(client, "Follow-up", conversation=others[0].pk)).text

    assert _entries(html) == [str(others[0].pk)]
    assert "Older 7" not in html and "Pinned one" not in html
    assert f'<hx-partial hx-target="#sidebar-item-{others[0].pk}" hx-swap="delete">' in html
    assert '<hx-partial hx-target="#sidebar-others" hx-swap="afterend">' in html
    entry = html.split(f'id="sidebar-item-{others[0].pk}"')[1].split("</li>")[0]
    assert 'aria-current="page"' in entry and "(a reply is being written)" in entry
    assert f"generating={others[0].pk}" in html and 'hx-trigger="every 3s"' in html
    await wait_for_reply((await latest_reply(alice)).pk)

    html = (await send(client, "To the pinned one", conversation=pinned.pk)).text
    assert _entries(html) == [str(pinned.pk)]
    assert '<hx-partial hx-target="#sidebar-pinned" hx-swap="afterend">' in html
    await wait_for_reply((await latest_reply(alice)).pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_send_also_catches_up_with_replies_that_ended_since_the_last_poll(
    alice, bob, fake_upstream
):
    """The page says which conversations it shows as being written (`watching`, fields of
    the composer's form kept in the poller): one that ended meanwhile loses its mark and gets
    its notice now, not only when the reply just sent ends."""
    make = sync_to_async(conversation_of)
    ended, still = await make(alice, "Ended meanwhile"), await make(alice, "Still going", True)
    bobs = await make(bob, "Bob's", generating=True)
    target = await make(alice, "Where I write")
    client = await logged_in(alice)

    response = await send(
        client, "Next", conversation=target.pk, watching=[ended.pk, still.pk, bobs.pk, "junk"]
    )

    html = response.text
    assert _entries(html) == [str(ended.pk), str(target.pk)]
    assert "Reply ready in “Ended meanwhile”" in html and "Bob" not in html
    assert f"generating={still.pk}" in html and f"generating={target.pk}" in html
    assert f'<input type="hidden" form="composer" name="watching" value="{still.pk}">' in html
    await wait_for_reply((await latest_reply(alice)).pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_new_chats_first_send_adds_its_entry_and_an_archived_one_adds_none(
    alice, fake_upstream
):
    client = await logged_in(alice)
    html = (await send(client, "First ever")).text
    reply = await latest_reply(alice)
    assert _entries(html) == [str(reply.conversation_id)]
    assert '<hx-partial hx-target="#sidebar-empty" hx-swap="delete">' in html
    await wait_for_reply(reply.pk)
    page = (await client.get("/")).text
    assert 'id="sidebar-empty"' not in page and 'id="sidebar-poller" hidden>' in page

    archived = await sync_to_async(conversation_of)(alice, "Put away", archived=True)
    html = (await send(client, "Still here?", conversation=archived.pk)).text
    assert _entries(html) == [] and "sidebar-item-" not in html
    assert f"generating={archived.pk}" in html  # (the poll still says when it is ready)
    await wait_for_reply((await latest_reply(alice)).pk)


def test_the_sidebar_shows_which_conversations_are_generating(alice, alice_client):
    busy, quiet = conversation_of(alice, "Busy", generating=True), conversation_of(alice, "Quiet")

    page = alice_client.get(f"/c/{quiet.pk}/").text

    busy_item = page.split(f'id="link-{busy.pk}"')[1].split("</a>")[0]
    quiet_item = page.split(f'id="link-{quiet.pk}"')[1].split("</a>")[0]
    assert '<span class="sr-only">(a reply is being written)</span>' in busy_item
    assert "being written" not in quiet_item
    assert f'hx-get="/sidebar/?open={quiet.pk}&amp;generating={busy.pk}"' in page
    assert 'hx-trigger="every 3s"' in page


def test_nothing_polls_while_nothing_is_generating(alice, alice_client):
    conversation_of(alice, "Quiet")
    page = alice_client.get("/").text
    assert "/sidebar/" not in page and "every 3s" not in page


def test_the_sidebar_costs_the_same_queries_for_many_conversations(alice, alice_client):
    conversation_of(alice, "One", generating=True)
    alice_client.get("/")  # (the first page also reads the model catalogue)
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/")
    for i in range(30):
        conversation_of(alice, f"Conversation {i}", generating=i % 3 == 0, pinned=i % 5 == 0)
    with CaptureQueriesContext(connection) as many:
        page = alice_client.get("/").text
    assert len(many) == len(few)
    assert page.count("(a reply is being written)") == 11


def many_conversations(owner, count, **fields) -> list[Conversation]:
    """`count` conversations, the last one the most recent."""
    start = timezone.now() - timedelta(days=1)
    return Conversation.objects.bulk_create(
        Conversation(owner=owner, title=f"Topic {i:03d}", updated_at=start + timedelta(seconds=i))
        for i in range(count)
    )


def test_the_sidebar_shows_its_first_entries_and_the_rest_as_it_is_scrolled(
    alice, bob, alice_client
):
    older = many_conversations(alice, 120)
    pinned = many_conversations(alice, 2)
    Conversation.objects.filter(pk__in=[c.pk for c in pinned]).update(pinned=True)
    many_conversations(bob, 5)

    page = alice_client.get("/").text
    seen = _entries(page)  # every pinned one, then 50 others
    assert len(seen) == 52 and seen[:2] == [str(pinned[1].pk), str(pinned[0].pk)]
    # One entry moves to the top meanwhile (a send): it is neither skipped nor shown twice.
    Conversation.objects.filter(pk=older[0].pk).update(updated_at=timezone.now())
    while 'id="sidebar-more"' in page:
        more = re.search(r'hx-get="(/sidebar/more/\?after=[^"]+)"', page).group(1)
        page = alice_client.get(more.replace("&amp;", "&"), headers=HTMX).text
        assert page.count('id="sidebar-more"') <= 1
        seen += _entries(page)
    expected = [str(c.pk) for c in [*reversed(pinned), *reversed(older[1:])]]
    assert seen == expected  # (older[0] is now at the top, where a send put it)


def _scroll_to_the_end(client, page: str) -> list[str]:
    seen = _entries(page)
    while 'id="sidebar-more"' in page:
        more = re.search(r'hx-get="(/sidebar/more/\?after=[^"]+)"', page).group(1)
        page = client.get(more.replace("&amp;", "&"), headers=HTMX).text
        seen += _entries(page)
    return seen


def test_an_open_conversation_further_down_is_listed_and_marked(alice, alice_client):
    """Opened from Search or a link, a conversation beyond the first 50 is listed in its place,
    with every entry above it, and marked as the open one; scrolling goes on after it."""
    made = many_conversations(alice, 120)
    Conversation.objects.filter(pk=made[0].pk).update(pinned=True)
    target = made[30]  # the 90th newest of the others

    page = alice_client.get(target.get_absolute_url()).text

    seen = _entries(page)
    newest_first = [str(c.pk) for c in reversed(made[1:])]
    assert seen == [str(made[0].pk), *newest_first[: newest_first.index(str(target.pk)) + 1]]
    entry = page.split(f'id="link-{target.pk}"')[1].split(">")[0]
    assert 'aria-current="page"' in entry
    assert _scroll_to_the_end(alice_client, page) == [str(made[0].pk), *newest_first]


@pytest.mark.parametrize(("place", "listed"), [(50, 50), (51, 51), (200, 200)])
def test_the_first_page_runs_down_to_the_open_conversation_at_its_place(
    alice, alice_client, place, listed
):
    """`place`: the open one's place among 210 others, newest first; one query more only when
    it is beyond the first 50."""
    made = many_conversations(alice, 210)
    alice_client.get("/")  # (the first page also reads the model catalogue)
    with CaptureQueriesContext(connection) as first:
        alice_client.get(made[-1].get_absolute_url())
    with CaptureQueriesContext(connection) as queries:
        page = alice_client.get(made[210 - place].get_absolute_url()).text
    assert len(_entries(page)) == listed and 'id="sidebar-more"' in page
    assert len(queries) == len(first) + (place > 50)
    assert _scroll_to_the_end(alice_client, page) == [str(c.pk) for c in reversed(made)]


def test_the_last_conversation_open_needs_no_more_link(alice, alice_client):
    made = many_conversations(alice, 60)
    page = alice_client.get(made[0].get_absolute_url()).text
    assert len(_entries(page)) == 60 and 'id="sidebar-more"' not in page


def test_an_open_conversation_beyond_the_longest_list_keeps_the_first_page(alice, alice_client):
    made = many_conversations(alice, 210)
    page = alice_client.get(made[2].get_absolute_url()).text  # the 208th newest
    assert len(_entries(page)) == 50 and 'aria-current="page"' not in page
    assert len(_scroll_to_the_end(alice_client, page)) == 210


def test_entries_with_the_same_last_activity_are_paged_by_id(alice, alice_client):
    same = timezone.now()
    made = Conversation.objects.bulk_create(
        Conversation(owner=alice, title=f"Twin {i}", updated_at=same) for i in range(120)
    )
    page = alice_client.get("/").text
    seen = _entries(page)
    while 'id="sidebar-more"' in page:
        more = re.search(r'hx-get="(/sidebar/more/\?after=[^"]+)"', page).group(1)
        page = alice_client.get(more.replace("&amp;", "&"), headers=HTMX).text
        seen += _entries(page)
    assert len(seen) == 120 and set(seen) == {str(c.pk) for c in made}


def test_without_javascript_a_link_shows_more_then_points_to_search(alice, alice_client):
    many_conversations(alice, 210)
    assert '<a href="/?more=1">Show more conversations</a>' in alice_client.get("/").text
    page = alice_client.get("/?more=1").text
    assert len(_entries(page)) == 200
    assert '<a href="/search/">Find older conversations with Search</a>' in page


@pytest.mark.parametrize(
    "after", ["junk", "2.1.x", f"1.abc.{uuid.uuid4()}", "1.5", f"1.{10**30}.{uuid.uuid4()}"]
)
def test_a_malformed_place_in_the_list_is_a_400(alice_client, after):
    assert alice_client.get(f"/sidebar/more/?after={after}", headers=HTMX).status_code == 400


def test_the_poll_answers_204_with_one_query_while_nothing_changed(alice, alice_client):
    busy = conversation_of(alice, "Busy", generating=True)

    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get(f"/sidebar/?generating={busy.pk}", headers=HTMX)

    assert response.status_code == 204 and response.content == b""
    ours = [q["sql"] for q in queries if re.search(r"conversations_(reply|conversation)", q["sql"])]
    assert len(ours) == 1 and "conversations_conversation" not in ours[0]


def test_the_poll_says_when_a_reply_is_ready_elsewhere(alice, bob, alice_client):
    open_one = conversation_of(alice, "Open one", generating=True)
    elsewhere = conversation_of(alice, "Report <draft>", generating=True)
    bobs = conversation_of(bob, "Bob's secret", generating=True)
    Reply.objects.filter(status__in=Reply.GENERATING).update(status=Reply.Status.COMPLETED)
    ids = [open_one.pk, elsewhere.pk, bobs.pk, "junk"]
    query = "&".join(f"generating={i}" for i in ids)

    response = alice_client.get(f"/sidebar/?open={open_one.pk}&{query}", headers=HTMX)

    assert response.status_code == 200
    assert response.text.count('hx-target="#sidebar-notices"') == 1
    assert "Reply ready in “Report &lt;draft&gt;”" in response.text
    assert f'href="/c/{elsewhere.pk}/"' in response.text
    assert "Bob" not in response.text and "Reply ready in “Open one”" not in response.text
    assert "being written" not in response.text and "every 3s" not in response.text
    page = alice_client.get("/").text
    assert '<div id="sidebar-notices" class="sidebar-notices" role="status"></div>' in page


def test_the_poll_keeps_watching_replies_still_generating(alice, alice_client):
    first = conversation_of(alice, "First", generating=True)
    second = conversation_of(alice, "Second", generating=True)
    Reply.objects.filter(conversation=first).update(status=Reply.Status.FAILED)

    text = alice_client.get(
        f"/sidebar/?generating={first.pk}&generating={second.pk}", headers=HTMX
    ).text

    assert "Reply ready in “First”" in text
    assert f"generating={second.pk}" in text and f"generating={first.pk}" not in text


def test_the_poll_sends_only_the_entries_that_changed(alice, alice_client):
    conversation_of(alice, "Quiet one")
    first = conversation_of(alice, "First", generating=True)
    second = conversation_of(alice, "Second", generating=True)
    elsewhere = conversation_of(alice, "Begun in another tab", generating=True)
    Reply.objects.filter(conversation__in=[first, second]).update(status=Reply.Status.COMPLETED)
    Conversation.objects.filter(pk=first.pk).update(updated_at=timezone.now())  # (ended last)

    text = alice_client.get(
        f"/sidebar/?generating={first.pk}&generating={second.pk}", headers=HTMX
    ).text

    # Each is put at the top of its group in turn: the latest activity ends up first.
    assert _entries(text) == [str(second.pk), str(elsewhere.pk), str(first.pk)]
    assert "Quiet one" not in text and text.count("(a reply is being written)") == 1
    assert f"generating={elsewhere.pk}" in text and 'hx-swap="none"' in text


def test_an_empty_new_chat_offers_example_prompts(alice, alice_client):
    page = alice_client.get("/").text
    assert page.count("data-example-prompt") == 4
    assert "Summarise the following text in three bullet points:" in page
    zh = alice_client.get("/", headers=ZH).text
    assert "用三个要点总结以下文字：" in zh
    conversation = conversation_of(alice, "Started")
    assert "data-example-prompt" not in alice_client.get(f"/c/{conversation.pk}/").text


def test_the_quota_line_shows_this_months_used_share(alice, alice_client):
    assert "of this month's quota used" not in alice_client.get("/").text
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=200_000)
    UsageMonth.objects.create(
        user=alice, month=month_start(), tokens_used=45_000, tokens_reserved=5_000
    )
    assert "25% of this month's quota used" in alice_client.get("/").text
    assert "本月配额已用 25%" in alice_client.get("/", headers=ZH).text


def test_shortcuts_are_announced(alice_client):
    page = alice_client.get("/").text
    assert 'aria-keyshortcuts="Control+Shift+O Meta+Shift+O"' in page
    assert 'aria-keyshortcuts="Control+K Meta+K /"' in page


def test_everything_here_is_translated(alice, alice_client):
    """The sidebar's list, the notices, the quota line and the empty chat (the rest of the
    page is checked by test_i18n)."""
    pinned = conversation_of(alice, "季度计划", pinned=True)
    busy = conversation_of(alice, "预算", generating=True)
    archived = conversation_of(alice, "旧计划", archived=True)
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=200_000)
    Reply.objects.filter(conversation=busy).update(status=Reply.Status.COMPLETED)

    parts = [
        alice_client.post(f"/c/{pinned.pk}/pin/", {"open": archived.pk}, headers=ZH | HTMX),
        alice_client.get(f"/sidebar/?generating={busy.pk}", headers=ZH | HTMX),
    ]
    home = alice_client.get("/", headers=ZH).text
    parts += [home.split('<div id="empty-state" class="empty-state">')[1].split("</div>")[0]]
    parts += [home.split('<p class="quota-share muted">')[1].split("</p>")[0]]
    for part in parts:
        text = getattr(part, "text", part)
        assert any(word in text for word in ["季度计划", "预算", "本月", "示例"])
        assert untranslated(text) == [], text
