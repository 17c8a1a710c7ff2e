"""Photos in the real window: recent files, stepping through a folder with the arrow keys,
and the box drawn for GrabCut, on a virtual display."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings

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
