"""The window's session state: what changes, and what each change notifies (no Qt)."""

from cartrack_desktop.view.session import Aspect, Session


def recorder(session):
    seen = []
    session.subscribe(lambda changes: seen.append((changes, session.pin, session.active_incident,
                                                   session.tracked, session.following)))
    return seen


def test_a_new_pin_drops_the_active_incident_in_one_notification():
    s = Session()
    s.open_incident("INC-1", 33.7, -84.4)
    seen = recorder(s)
    s.place_pin(33.8, -84.3)
    # listeners see the whole change at once: the new pin and no incident
    assert seen == [(frozenset({Aspect.PIN, Aspect.INCIDENT}), (33.8, -84.3), None, None, False)]


def test_placing_a_pin_without_an_incident_notifies_the_pin_only_and_every_time():
    s = Session()
    seen = recorder(s)
    s.place_pin(33.8, -84.3)
    s.place_pin(33.8, -84.3)      # the same point again: the nearby list is asked again
    assert [c for c, *_ in seen] == [frozenset({Aspect.PIN})] * 2


def test_opening_an_incident_moves_the_pin_there():
    s = Session()
    seen = recorder(s)
    s.open_incident("INC-7", 1.0, 2.0)
    assert (s.pin, s.active_incident) == ((1.0, 2.0), "INC-7")
    assert seen[0][0] == frozenset({Aspect.PIN, Aspect.INCIDENT})


def test_active_incident_notifies_only_when_it_changes():
    s = Session()
    s.place_pin(1.0, 2.0)
    seen = recorder(s)
    s.set_active_incident("INC-2")
    s.set_active_incident("INC-2")
    s.set_active_incident(None)
    s.set_active_incident(None)
    assert [c for c, *_ in seen] == [frozenset({Aspect.INCIDENT})] * 2
    assert s.pin == (1.0, 2.0)    # the pin stays where it is


def test_clearing_the_pin_clears_the_incident_too():
    s = Session()
    s.open_incident("INC-3", 1.0, 2.0)
    seen = recorder(s)
    s.clear_pin()
    assert (s.pin, s.active_incident) == (None, None)
    assert seen[0][0] == frozenset({Aspect.PIN, Aspect.INCIDENT})
    s.clear_pin()
    assert seen[1][0] == frozenset({Aspect.PIN})


def test_tracking_follows_and_tracking_again_notifies_again():
    s = Session()
    seen = recorder(s)
    s.track("PC-1")
    s.set_following(False)                 # the dispatcher dragged the map
    s.track("PC-1")                        # Centre: follow again, the map re-centres
    assert [c for c, *_ in seen] == [frozenset({Aspect.TRACKING}), frozenset({Aspect.FOLLOWING}),
                                     frozenset({Aspect.TRACKING})]
    assert (s.tracked, s.following) == ("PC-1", True)


def test_stop_tracking_is_a_no_op_when_nothing_is_tracked():
    s = Session()
    seen = recorder(s)
    s.stop_tracking()
    assert seen == []
    s.track("PC-2")
    s.stop_tracking()
    assert (s.tracked, s.following) == (None, False)
    assert seen[-1][0] == frozenset({Aspect.TRACKING})


def test_following_needs_a_tracked_unit_and_notifies_changes_only():
    s = Session()
    seen = recorder(s)
    s.set_following(True)
    assert not s.following and seen == []
    s.track("PC-3")
    s.set_following(True)                  # already following
    assert len(seen) == 1


def test_pin_and_tracking_are_independent():
    s = Session()
    s.track("PC-4")
    s.place_pin(5.0, 6.0)
    s.clear_pin()
    assert s.tracked == "PC-4"
    s.stop_tracking()
    s.place_pin(7.0, 8.0)
    assert s.pin == (7.0, 8.0)


def test_unsubscribe_and_a_broken_listener_does_not_starve_the_others():
    s = Session()
    calls = []

    def broken(_changes):
        raise RuntimeError("boom")

    s.subscribe(broken)
    unsubscribe = s.subscribe(calls.append)
    s.place_pin(1.0, 1.0)
    assert calls == [frozenset({Aspect.PIN})]
    unsubscribe()
    unsubscribe()                          # twice is harmless
    s.place_pin(2.0, 2.0)
    assert len(calls) == 1


def test_a_listener_may_change_the_session_while_being_notified():
    s = Session()
    seen = []

    def drop_incident_on_pin(changes):
        seen.append(changes)
        if Aspect.PIN in changes and s.active_incident is not None:
            s.set_active_incident(None)

    s.subscribe(drop_incident_on_pin)
    s.open_incident("INC-9", 1.0, 1.0)
    assert s.active_incident is None
    assert seen == [frozenset({Aspect.PIN, Aspect.INCIDENT}), frozenset({Aspect.INCIDENT})]
