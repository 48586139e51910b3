"""Helpers of admin tests: the admin's pages of an app, a change form's inputs as a browser would post them back
(for tests that then change a few), and an action broken half-way."""

from html.parser import HTMLParser

from django.urls import reverse


def admin_pages(app_label: str):
    """`changelist(model_name)`, `change(model_name, pk)` (their URLs) and `run_action(client, model_name,
    action, objs)` (posted from the changelist, redirects followed) for the models of `app_label`."""

    def changelist(model_name):
        return reverse(f"admin:{app_label}_{model_name}_changelist")

    def change(model_name, pk):
        return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])

    def run_action(client, model_name, action, objs):
        return client.post(changelist(model_name), {"action": action, "_selected_action": [o.pk for o in objs]},
                           follow=True)

    return changelist, change, run_action


class _Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.data, self._select, self._multiple, self._textarea = {}, None, False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") != "checkbox":
                self.data[name] = attrs.get("value") or ""
            elif "checked" in attrs:
                self.data[name] = "on"
        elif tag == "select" and name:
            self._select, self._multiple = name, "multiple" in attrs
            if not self._multiple:  # a browser sends nothing for a multiple select with nothing chosen
                self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            value = attrs.get("value") or ""
            if self._multiple:
                self.data.setdefault(self._select, []).append(value)
            else:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def change_form_data(client, url) -> dict:
    """The inputs of the change form at `url`, unchanged (the test client needs no CSRF token)."""
    parser = _Form()
    parser.feed(client.get(url).content.decode())
    return {name: value for name, value in parser.data.items()
            if name not in ("csrfmiddlewaretoken", "action", "select_across")}


class BrokenHalfway(Exception):
    """What `broken_halfway` raises: a failure in the middle of an admin action over several objects."""


def broken_halfway(function):
    """`function`, raising BrokenHalfway from its second call on: an action over two objects changes the first,
    then fails."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise BrokenHalfway
        return function(*args, **kwargs)

    return wrapper
