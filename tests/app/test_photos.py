"""Photos in the real window: recent files, stepping through a folder with the arrow keys,
and the box drawn for GrabCut, on a virtual display."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings, Qt

from gan3d_studio.controller import step_through_folder
from gan3d_studio.recent import RecentFiles
from tests.app.conftest import open_model
from tests.conftest import object_photo


def save_photos(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for index, name in enumerate(names):
        Image.fromarray(object_photo(100 + 10 * index)).save(folder / name)
    return [folder / name for name in names]


def reconstruct(qtbot, window, photos) -> None:
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.reconstruct_panel.request(photos)


def recent_entries(window) -> list[str]:
    return [a.text() or "|" for a in window.recent_menu.actions()]  # "|": a separator


def test_recent_files_keep_newest_first_up_to_a_limit_and_survive_the_settings_file(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[General]\nrecent_images=/photos/chair.png\n")  # as Qt writes one entry
    recent = RecentFiles(QSettings(str(path), QSettings.Format.IniFormat), "recent_images", 3)
    assert recent.paths() == ["/photos/chair.png"]  # not one entry per character
    assert recent.add(["/photos/a.png", "/photos/chair.png"]) == [
        "/photos/a.png",
        "/photos/chair.png",
    ]
    assert recent.add([f"/photos/{n}.png" for n in "bcd"]) == [
        "/photos/b.png",
        "/photos/c.png",
        "/photos/d.png",
    ]


def test_open_recent_lists_models_and_images_and_opens_them(
    qtbot, window, settings, engine_process, cvaegan_checkpoint, gan_checkpoint, tmp_path,
    monkeypatch,
):  # fmt: skip
    from gan3d_studio.main_window import MainWindow

    assert not window.recent_menu.isEnabled()  # nothing opened yet
    open_model(qtbot, window, cvaegan_checkpoint)
    monkeypatch.chdir(tmp_path)
    first, second = save_photos(tmp_path / "photos", "first.png", "second.png")
    reconstruct(qtbot, window, [Path("photos/first.png")])  # relative: remembered absolute
    reconstruct(qtbot, window, [second])
    assert window.recent_images.paths() == [str(second), str(first)]
    assert recent_entries(window) == ["tiny_cvaegan.safetensors", "|", "second.png", "first.png"]
    open_model(qtbot, window, gan_checkpoint)
    assert recent_entries(window)[:2] == ["tiny_gan.safetensors", "tiny_cvaegan.safetensors"]
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.recent_menu.actions()[1].trigger()  # the model, as if dropped
    assert window.session.model.path == str(cvaegan_checkpoint)
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.recent_menu.actions()[-1].trigger()  # the oldest photo
    assert window.session.current.source == "reconstruction of first.png"
    assert window.recent_images.paths() == [str(first), str(second)]
    later = MainWindow(settings, device="cpu", engine=engine_process)  # the next launch
    try:
        assert recent_entries(later) == recent_entries(window)
        assert later.model_panel.recent_box.count() == 2
    finally:
        later.close()


def test_stepping_wraps_at_the_ends_and_counts_from_a_photo_no_longer_there(tmp_path):
    a, c = save_photos(tmp_path, "a.png", "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "folder.png").mkdir()  # named like one, but a folder
    assert step_through_folder(a, 1) == (1, [a, c])
    assert step_through_folder(c, 1) == (0, [a, c])  # past the last: the first, as in f3d
    assert step_through_folder(a, -1) == (1, [a, c])
    gone = tmp_path / "b.png"
    assert step_through_folder(gone, 1) == (1, [a, c])
    assert step_through_folder(gone, -1) == (0, [a, c])


def test_left_and_right_step_through_the_folder_unless_a_widget_uses_them(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    open_model(qtbot, window, cvaegan_checkpoint)
    folder = tmp_path / "photos"
    a, b, _ = save_photos(folder, "a.png", "b.JPG", "c.png")
    (folder / "notes.txt").write_text("not an image")
    reconstruct(qtbot, window, [b])
    assert window.photo_label.text() == "b.JPG (2 of 3)"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.viewport.setFocus()
    for key, photo, place in (
        (Qt.Key.Key_Right, "c.png", 3),
        (Qt.Key.Key_Right, "a.png", 1),  # wrapped around
        (Qt.Key.Key_Left, "c.png", 3),
    ):
        with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
            qtbot.keyClick(window.viewport, key)
        assert window.session.current.source == f"reconstruction of {photo}"
        assert window.photo_label.text() == f"{photo} ({place} of 3)"
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        qtbot.keyClick(window, Qt.Key.Key_Right)  # the window itself, nothing focused
    assert window.session.current.source == "reconstruction of a.png"
    slider = window.latent_panel.sliders[0]
    slider.setFocus()
    value = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert slider.value() == value - slider.singleStep()  # the slider's, not a photo step
    qtbot.wait(300)
    assert window.controller.photo == a
    assert sum(s.source.startswith("reconstruction") for s in window.session.history) == 5
    sheet = window.shortcut_sheet()
    assert "<b>Right</b></td><td>Next photo in folder" in sheet


def test_a_bad_image_in_the_folder_is_named_in_the_status_bar_and_stepped_past(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    open_model(qtbot, window, cvaegan_checkpoint)
    a, _ = save_photos(tmp_path / "photos", "a.png", "b.png")
    (tmp_path / "photos" / "a_broken.png").write_bytes(b"no pixels here")  # between them
    reconstruct(qtbot, window, [a])
    shown, history = window.viewport.shown, list(window.session.history)
    with qtbot.waitSignal(window.controller.error, timeout=30_000):
        window.controller.step_photo(1)
    qtbot.wait(200)
    assert "a_broken.png: cannot read image" in window.status_label.text()
    assert window.photo_label.text() == "a_broken.png (2 of 3)"
    assert window.viewport.shown is shown and window.session.history == history
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.controller.step_photo(1)  # on past it, not into it again
    assert window.session.current.source == "reconstruction of b.png"
