"""Photos in the real window: recent files, stepping through a folder with the arrow keys,
and the box drawn for GrabCut, on a virtual display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QSettings, Qt

from gan3d_studio.controller import step_through_folder
from gan3d_studio.recent import RecentFiles
from tests.app.conftest import both_viewports, open_model
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
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chair", "a", "b", "c", "d"):
        (photos / f"{name}.png").write_bytes(b"")
    path = tmp_path / "settings.ini"
    path.write_text(f"[General]\nrecent_images={photos}/chair.png\n")  # as Qt writes one entry
    recent = RecentFiles(QSettings(str(path), QSettings.Format.IniFormat), "recent_images", 3)
    assert recent.paths() == [f"{photos}/chair.png"]  # not one entry per character
    assert recent.add([f"{photos}/a.png", f"{photos}/chair.png"]) == [
        f"{photos}/a.png",
        f"{photos}/chair.png",
    ]
    assert recent.add([f"{photos}/{n}.png" for n in "bcd"]) == [
        f"{photos}/b.png",
        f"{photos}/c.png",
        f"{photos}/d.png",
    ]
    # a file deleted, or replaced by a folder, is no longer offered
    (photos / "c.png").unlink()
    (photos / "d.png").unlink()
    (photos / "d.png").mkdir()
    assert recent.paths() == [f"{photos}/b.png"]
    # photos of one object, one entry; a group with a file gone is dropped whole, and an
    # entry edited into something else is left out
    recent.add([f"{photos}/a.png", f"{photos}/b.png"], together=True)
    assert recent.entries() == [(f"{photos}/a.png", f"{photos}/b.png"), (f"{photos}/b.png",)]
    recent.settings.setValue("recent_images", ["[1, 2]", "[not json", f"{photos}/a.png"])
    assert recent.entries() == [(f"{photos}/a.png",)]


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
    # photos of one object are one entry, and open together again (app review: each was
    # listed alone, and choosing one read that photo only)
    reconstruct(qtbot, window, [first, second])
    assert recent_entries(window)[-3:] == ["first.png + 1 more", "first.png", "second.png"]
    assert window.export_panel.suggested_name == "first"  # the export dialog offers first.stl
    reconstruct(qtbot, window, [second])
    (together,) = [a for a in window.recent_menu.actions() if a.text() == "first.png + 1 more"]
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        together.trigger()
    assert window.session.current.source == "reconstruction of first.png, second.png"
    later = MainWindow(settings, device="cpu", engine=engine_process)  # the next launch
    try:
        assert recent_entries(later) == recent_entries(window)
        assert later.model_panel.recent_box.count() == 2
    finally:
        later.close()
    second.unlink()  # deleted since: gone from the menu as it opens
    window.recent_menu.aboutToShow.emit()
    assert "second.png" not in recent_entries(window) and "first.png" in recent_entries(window)
    # sessions saved or opened are listed between the models and the photos, and reopen
    monkeypatch.setattr(
        "gan3d_studio.main_window.QFileDialog.getSaveFileName",
        lambda *a: ("kept.g3session.json", ""),  # relative: remembered absolute
    )
    assert window.save_session_as()
    assert window.recent_sessions.paths() == [str(tmp_path / "kept.g3session.json")]
    entries = recent_entries(window)
    assert entries[entries.index("kept.g3session.json") - 1 :][:3] == [
        "|",
        "kept.g3session.json",
        "|",
    ]
    saved = window.session.current.latent
    with qtbot.waitSignal(window.controller.shape_shown, timeout=10_000):
        window.generate_panel.random_button.click()
    window.session.unsaved = False  # not asked whether to keep the random shape
    (kept,) = [a for a in window.recent_menu.actions() if a.text() == "kept.g3session.json"]
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        kept.trigger()
    np.testing.assert_array_equal(window.session.current.latent, saved)


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


@both_viewports
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
    shown, history = window.session.shown, list(window.session.history)
    with qtbot.waitSignal(window.controller.error, timeout=30_000):
        window.controller.step_photo(1)
    qtbot.wait(200)
    assert "a_broken.png: cannot read image" in window.status_label.text()
    assert window.photo_label.text() == "a_broken.png (2 of 3)"
    assert window.session.shown is shown and window.session.history == history
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.controller.step_photo(1)  # on past it, not into it again
    assert window.session.current.source == "reconstruction of b.png"


def drag(qtbot, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag on the box canvas between two points given in the photo's pixels."""
    first, last = (canvas.to_screen(QPointF(*point)).toPoint() for point in (start, end))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=first)
    for step in range(1, 5):
        qtbot.mouseMove(canvas, first + (last - first) * (step / 4))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=last)


def open_box_dialog(qtbot, window, photo: Path):
    """Reconstruct ``photo``, then open the box dialog on it ("Cut out object…")."""
    reconstruct(qtbot, window, [photo])
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        window.reconstruct_panel.cut_out_button.click()
    dialog = window.cut_out_dialog
    qtbot.waitExposed(dialog)
    return dialog


def test_a_drawn_box_shows_grabcut_s_mask_and_the_encoder_sees_what_preprocessing_gives(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    from skimage import data

    from gan3d_core.images import grabcut_mask, preprocess_image

    open_model(qtbot, window, cvaegan_checkpoint)
    picture = data.chelsea()  # 451 x 300: a cat on a textured background
    photo = tmp_path / "cat.png"
    Image.fromarray(picture).save(photo)
    dialog = open_box_dialog(qtbot, window, photo)
    assert dialog.box is None and not dialog.ok_button.isEnabled()
    canvas = dialog.canvas
    scale = canvas.photo_area().width() / 451  # screen pixels per photo pixel
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        drag(qtbot, canvas, (40, 20), (300, 280))  # a new box
    assert np.allclose(dialog.box, (40, 20, 260, 260), atol=1 / scale + 1)
    x, y, width, height = dialog.box
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        drag(qtbot, canvas, (x + width, y + height / 2), (x + width + 60, y + height / 2))
    assert dialog.box[:2] == (x, y) and dialog.box[3] == height  # only the right edge moved
    assert abs(dialog.box[2] - (width + 60)) <= 1 / scale + 1
    box = dialog.box
    assert dialog.shown.box == box and dialog.ok_button.isEnabled()
    expected_mask = grabcut_mask(picture, box)
    np.testing.assert_array_equal(dialog.shown.mask, expected_mask)  # shown at full size
    screen = canvas.grab().toImage()
    outside, inside = (10, 290), tuple(np.argwhere(expected_mask).mean(axis=0).astype(int))
    for (row, col), kept in ((outside, False), (inside, True)):
        point = canvas.to_screen(QPointF(col + 0.5, row + 0.5)).toPoint()
        drawn = screen.pixelColor(point * screen.devicePixelRatio())
        brightness = sum(drawn.getRgb()[:3]) / picture[row, col].sum()
        assert (brightness > 0.8) == kept  # what preprocessing drops is shown dimmed
    with qtbot.waitSignal(window.controller.reconstructed, timeout=30_000) as seen:
        dialog.ok_button.click()
    encoded = seen.args[0].inputs[0]
    np.testing.assert_array_equal(encoded, preprocess_image(photo, encoded.shape[0], box=box))
    assert window.session.reconstruct_options.box == box
    panel = window.reconstruct_panel
    assert (
        panel.box_label.text() == f"{box[2]} × {box[3]} at {box[0]}, {box[1]} in 451 × 300 photos"
    )
    qtbot.waitUntil(lambda: window.cut_out_dialog is None)
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        panel.cut_out_button.click()  # again: it starts from the box in use
    qtbot.waitUntil(lambda: window.cut_out_dialog.shown.box == box, timeout=30_000)
    window.cut_out_dialog.reject()
    assert window.session.reconstruct_options.box == box  # cancelled: nothing changed
    # the box applies to the next photos of its size too (a tripod's series), and says so
    in_box = f"in the object box {box[2]} × {box[3]} at {box[0]}, {box[1]}"
    assert window.session.current.source.endswith(in_box)
    flipped = tmp_path / "flipped.png"
    Image.fromarray(picture[:, ::-1]).save(flipped)
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        window.controller.reconstruct([flipped])
    assert window.session.current.source == f"reconstruction of flipped.png {in_box}"
    # a photo of another size is separated automatically (3D artist's review: an
    # astronaut's box was used on a cat), and the status line says why
    small = tmp_path / "small.png"
    Image.fromarray(picture[:150, :200]).save(small)
    with qtbot.waitSignal(window.controller.notice) as noticed:
        with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
            window.controller.reconstruct([small])
    assert noticed.args[0] == (
        "The object box is for 451 x 300 photos and small.png is 200 x 150: it is separated "
        "automatically"
    )
    assert window.session.current.source == "reconstruction of small.png"
    assert window.session.reconstruct_options.box == box  # kept for photos of its size
    # the API and the command line still refuse a box past the photo, naming it
    from gan3d_core.errors import UsageError

    with pytest.raises(UsageError, match="runs past this 200 x 150 image"):
        preprocess_image(small, 32, box=box)
    panel.clear_box_button.click()
    assert window.session.reconstruct_options.box is None
    assert panel.box_label.text() == "automatic"
    assert window.status_label.text().startswith("Object box cleared")


def test_the_box_dialog_says_a_cut_out_needs_no_box(qtbot, window, cvaegan_checkpoint, tmp_path):
    open_model(qtbot, window, cvaegan_checkpoint)
    rgba = np.zeros((120, 160, 4), np.uint8)
    rgba[20:100, 50:110] = (90, 60, 30, 255)  # an opaque object on transparent pixels
    photo = tmp_path / "cut_out.png"
    Image.fromarray(rgba).save(photo)
    dialog = open_box_dialog(qtbot, window, photo)
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        drag(qtbot, dialog.canvas, (10, 10), (100, 100))
    assert dialog.shown.method == "cut-out" and dialog.shown.box == dialog.box
    assert "box changes nothing" in dialog.note.text()
    assert not dialog.ok_button.isEnabled()
    dialog.reject()


def test_the_box_dialog_offers_no_reconstruction_of_an_empty_mask(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    from dataclasses import replace

    open_model(qtbot, window, cvaegan_checkpoint)
    photo = tmp_path / "cat.png"
    Image.fromarray(object_photo(120)).save(photo)
    dialog = open_box_dialog(qtbot, window, photo)
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        drag(qtbot, dialog.canvas, (10, 10), (100, 100))
    assert dialog.ok_button.isEnabled()
    # a mask keeping little of the box says so (3D artist's review: 3 % of a torso's box)
    little = np.zeros_like(dialog.shown.mask)
    little[dialog.shown.mask.nonzero()[0][0], dialog.shown.mask.nonzero()[1][0]] = True
    dialog.show_cut_out(replace(dialog.shown, mask=little))
    assert "GrabCut kept only 0% of the box" in dialog.note.text()
    assert dialog.ok_button.isEnabled()  # a thin object's mask is little of its box too
    dialog.show_cut_out(replace(dialog.shown, mask=np.zeros_like(dialog.shown.mask)))  # all cut
    assert not dialog.ok_button.isEnabled()
    assert "kept nothing inside this box" in dialog.note.text()
    dialog.reject()


def test_a_photo_that_cannot_be_read_opens_no_box_dialog_and_closing_closes_one(
    qtbot, window, cvaegan_checkpoint, tmp_path, monkeypatch
):
    open_model(qtbot, window, cvaegan_checkpoint)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"no pixels here")
    (good,) = save_photos(tmp_path, "good.png")
    chosen = [broken, good]
    monkeypatch.setattr(  # no photo reconstructed yet: the button asks for one
        "gan3d_studio.main_window.QFileDialog.getOpenFileName", lambda *a: (str(chosen.pop(0)), "")
    )
    with qtbot.waitSignal(window.controller.error, timeout=30_000):
        window.reconstruct_panel.cut_out_button.click()
    assert "broken.png: cannot read image" in window.status_label.text()
    qtbot.wait(200)
    assert window.cut_out_dialog is None and window.session.reconstruct_options.box is None
    with qtbot.waitSignal(window.controller.cut_out_ready, timeout=30_000):
        window.reconstruct_panel.cut_out_button.click()
    dialog = window.cut_out_dialog
    assert dialog.isVisible() and dialog.photo == str(good)
    window.close()
    assert not dialog.isVisible() and window.session.reconstruct_options.box is None


def test_the_app_s_box_is_checked_by_the_rule_of_gan3d_reconstruct_box(capsys):
    from gan3d_core.cli import build_parser
    from gan3d_core.errors import UsageError
    from gan3d_studio.wire import ReconstructOptions

    assert ReconstructOptions(box=[np.int64(3), 4, 50, 60]).box == (3, 4, 50, 60)
    parser = build_parser()
    arguments = ["reconstruct", "a.png", "-o", "a.stl", "--box"]
    assert parser.parse_args([*arguments, "3,4,50,60"]).box == (3, 4, 50, 60)
    assert parser.parse_args([*arguments, "3,4.0,50,60"]).box == (3, 4, 50, 60)
    # a NaN was a ValueError from int(), 2.5 was cut to 2 (review)
    bad_boxes = ((-1, 0, 10, 10), (0, 0, 1, 10), (1, 2, 3), (float("nan"), 0, 9, 9),
                 (2.5, 0, 9, 9), (True, True, 9, 9))  # fmt: skip
    for bad in bad_boxes:
        with pytest.raises(UsageError, match="X and Y 0 or more, W and H 2 or more"):
            ReconstructOptions(box=bad)
        with pytest.raises(SystemExit):
            parser.parse_args([*arguments, ",".join(map(str, bad))])
        # a box starting with a minus was taken for an option: "expected one argument"
        assert "X and Y 0 or more" in capsys.readouterr().err


def test_the_reconstruct_panel_follows_the_shape_shown_through_undo(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    """App review: after an undo the panel, the photo's name and the 0 camera still
    described the last photo, and a class chosen then read that photo, not the one shown."""
    open_model(qtbot, window, cvaegan_checkpoint)
    a, b = save_photos(tmp_path / "photos", "a.png", "b.png")
    panel, session = window.reconstruct_panel, window.session
    reconstruct(qtbot, window, [a])
    reading_a = panel.found_label.text()
    reconstruct(qtbot, window, [b])
    assert window.photo_label.text() == "b.png (2 of 2)"
    with qtbot.waitSignal(window.controller.shape_shown, timeout=10_000):
        window.undo_action.trigger()
    assert session.current.source == "reconstruction of a.png"
    assert panel.found_label.text() == reading_a and len(panel.thumbnail_labels) == 1
    assert window.photo_label.text() == "a.png (1 of 2)"
    with qtbot.waitSignal(window.controller.shape_shown, timeout=30_000):
        # another class chosen reads the photo of the shape shown again
        panel.class_box.setCurrentIndex((session.current.label + 1) % 2 + 1)
    assert session.current.source == "reconstruction of a.png"
    assert len(session.history) == 3 and not session.can_redo  # b's entry gave way to it
    with qtbot.waitSignal(window.controller.shape_shown, timeout=10_000):
        window.controller.new_random(5, label=0)  # not from photos: nothing to show
    assert panel.found_label.text() == "" and panel.thumbnail_labels == []
    assert not window.photo_camera_action.isEnabled()
    with qtbot.waitSignal(window.controller.shape_shown, timeout=10_000):
        window.undo_action.trigger()
    assert panel.found_label.text() != "" and len(panel.thumbnail_labels) == 1


def test_the_box_dialog_of_a_tall_photo_fits_the_screen(
    qtbot, window, cvaegan_checkpoint, tmp_path
):
    """A portrait phone photo's dialog was as tall as the photo, its buttons off the screen."""
    open_model(qtbot, window, cvaegan_checkpoint)
    photo = tmp_path / "tall.png"
    picture = np.full((1500, 500, 3), 230, np.uint8)
    picture[400:1100, 150:350] = (120, 60, 30)
    Image.fromarray(picture).save(photo)
    dialog = open_box_dialog(qtbot, window, photo)
    screen = window.screen().availableGeometry()
    assert dialog.frameGeometry().height() <= screen.height()
    assert (
        dialog.ok_button.mapTo(dialog, dialog.ok_button.rect().bottomLeft()).y() <= dialog.height()
    )
    dialog.reject()
