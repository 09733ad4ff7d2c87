"""The request body with files: their data URLs are spliced into the JSON after the rest is
serialized (conversations/upstream.py), and the result is the JSON json.dumps would write."""

import base64
import json

from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage

from conversations.attachments.parts import DataURL
from conversations.upstream import _json_bytes


def test_files_are_spliced_into_the_json_as_data_urls():
    storage = InMemoryStorage()
    data = bytes(range(256)) * 9000  # not a multiple of the encoder's piece size
    storage.save("a", ContentFile(data))
    storage.save("b", ContentFile(b"%PDF-1.7 tiny"))
    body = {
        "model": "m",
        "input": [
            {
                "role": "user",
                "content": [
                    # Text that looks like the splice's marker stays text.
                    {"type": "input_text", "text": '@file-0@ «quoted» "x"\n'},
                    {"type": "input_image", "image_url": DataURL(storage, "a", "image/png")},
                    {"type": "input_file", "file_data": DataURL(storage, "b", "application/pdf")},
                ],
            }
        ],
    }

    sent = json.loads(_json_bytes(body))

    content = sent["input"][0]["content"]
    assert content[0]["text"] == '@file-0@ «quoted» "x"\n'
    assert content[1]["image_url"] == "data:image/png;base64," + base64.b64encode(data).decode()
    assert (
        content[2]["file_data"]
        == "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.7 tiny").decode()
    )
