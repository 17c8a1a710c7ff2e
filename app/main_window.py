"""The main window: composes the viewport, the panels and the controller; decides nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QToolButton,
    QWidget,
)

from gan3d_core.errors import Gan3dError, InputFileError, UsageError, first_line
from gan3d_core.images import PICTURE_FORMATS, picture_bytes, png_bytes
from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.io.card import is_model
from gan3d_core.io.checkpoint import read_model_card
from gan3d_core.io.kinds import LATENT_SUFFIX, SHAPE_SUFFIXES, latent_file_path
from gan3d_studio.controller import ANIMATION_SUFFIXES, Controller
from gan3d_studio.panels.cut_out import CutOutDialog
from gan3d_studio.panels.export import ExportPanel
from gan3d_studio.panels.generate import GeneratePanel
from gan3d_studio.panels.history import HistoryPanel
from gan3d_studio.panels.interpolate import InterpolatePanel
from gan3d_studio.panels.latent import LatentPanel
from gan3d_studio.panels.model import ModelPanel
from gan3d_studio.panels.reconstruct import IMAGE_FILTER, ReconstructPanel
from gan3d_studio.panels.view import ViewPanel
from gan3d_studio.recent import RecentFiles
from gan3d_studio.session import (
    SESSION_SUFFIX,
    Session,
    read_session_file,
    session_file_path,
)
from gan3d_studio.viewport import make_viewport
from gan3d_studio.wire import CutOut, Reconstruction, series_files_there

SESSION_FILTER = "gan3d-studio sessions (*.g3session.json *.json)"
SESSION_SAVE_FILTER = f"gan3d-studio sessions (*{SESSION_SUFFIX})"
SCREENSHOT_FILTER = "Pictures (" + " ".join(f"*{suffix}" for suffix in PICTURE_FORMATS) + ")"
UP_AXES = {"auto": "Automatic (glTF y, others z)", "z": "Z up (ModelNet, STL)",
           "y": "Y up (ShapeNet)"}  # fmt: skip
LATENT_FILTER = f"Latents (*{LATENT_SUFFIX})"
SHAPE_FILTER = (
    f"3D shapes and latents ({' '.join('*' + suffix for suffix in SHAPE_SUFFIXES)});;"
    f"{LATENT_FILTER}"
)


MIN_VIEWPORT_SIZE = (320, 240)  # pixels: the 3D view keeps this much of a narrow window
NOTICE_MS = 15_000  # how long a notice (e.g. the engine was restarted) stays in the status bar
# Left / Right step through the images in the last photo's folder. They reach the window only
# when nothing else wants them: from the 3D view (which passes them on) or with no focus at
# all. As shortcuts they would be taken from the latent sliders, spin boxes and lists too.
PHOTO_STEP_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
# keys the panels take themselves, for the cheat sheet (H)
PANEL_KEYS = [
    ("Enter", "In the Seed box: generate that seed"),
    ("Delete", "In the bookmark list: remove the chosen bookmark"),
    ("Double-click", "In the bookmark list: rename a bookmark"),
]


def screenshot_file_path(path: str) -> str:
    """``path`` as a screenshot is saved: with ``.png`` added unless it names a picture
    format."""
    return path if Path(path).suffix.lower() in PICTURE_FORMATS else path + ".png"


def _json_setting(value: object) -> object:
    """A setting saved as JSON text, or None when it is missing or not JSON (settings files
    are the user's to edit)."""
    try:
        return json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, device: str = "auto", engine=None) -> None:
        """``engine``: an already started engine (process) to use and leave running;
        by default the window starts its own and stops it when it closes."""
        super().__init__()
        self.setWindowTitle("gan3d-studio[*]")  # [*]: a mark while the session is unsaved
        self.resize(1400, 900)
        self.settings = settings
        self.session = Session()
        self.session_path: Path | None = None  # the file Save writes (opened or saved as)
        self.viewport = make_viewport(self.session, self)
        # the panels give way first: a narrow window was all panels and no 3D view
        self.viewport.setMinimumSize(*MIN_VIEWPORT_SIZE)
        self.setCentralWidget(self.viewport)
        self.controller = Controller(self.session, device, engine)
        self.controller.may_discard_work = self.may_discard_work
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self.shortcut_dialog: QMessageBox | None = None
        self.cut_out_dialog: CutOutDialog | None = None
        self.photo_camera: tuple[float, float] | None = None  # the last photo's, estimated
        self._closed = False

        self.recent_models = RecentFiles(settings, "recent_models")
        self.recent_sessions = RecentFiles(settings, "recent_sessions")
        self.recent_images = RecentFiles(settings, "recent_images")
        self.model_panel = ModelPanel(self.recent_models.paths())
        self.generate_panel = GeneratePanel(self.session)
        self.latent_panel = LatentPanel(self.session)
        self.reconstruct_panel = ReconstructPanel(self.session)
        self.interpolate_panel = InterpolatePanel(self.session)
        self.history_panel = HistoryPanel(self.session)
        self.view_panel = ViewPanel(self.session)
        self.export_panel = ExportPanel()
        last_export = settings.value("last_export")
        if isinstance(last_export, str) and last_export:
            self.export_panel.remember(last_export)  # folder and format of the last export
        self.export_panel.restore(_json_setting(settings.value("export_settings")))
        left = [
            ("Model", self.model_panel),
            ("Generate", self.generate_panel),
            ("Latent", self.latent_panel),
        ]
        right = [
            ("Reconstruct", self.reconstruct_panel),
            ("View", self.view_panel),
            ("Export", self.export_panel),
            ("Interpolate and arithmetic", self.interpolate_panel),
            ("History", self.history_panel),
        ]
        for title, panel in left:
            self._dock(title, panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        right_docks = [self._dock(t, p, Qt.DockWidgetArea.RightDockWidgetArea) for t, p in right]
        # Making shapes (reconstruct, view, export) share one tab stack; interpolation and
        # history sit below it. (A second tab stack drew a stray tab bar over the status bar.)
        self.tabifyDockWidget(right_docks[0], right_docks[1])
        self.tabifyDockWidget(right_docks[1], right_docks[2])
        right_docks[0].raise_()
        # First run: the tab stack gets the height it needs to show the encoder's input.
        self._default_dock_sizes = [
            ([right_docks[0], *right_docks[3:]], [430, 290, 150], Qt.Orientation.Vertical),
            ([right_docks[0]], [340], Qt.Orientation.Horizontal),
        ]

        self.status_label = QLabel("Ready")
        self.photo_label = QLabel()
        self.photo_label.setToolTip("Left / Right: the previous / next image in this folder")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setRange(0, 1000)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the work in progress (Esc)")
        self.cancel_button.setShortcut(QKeySequence("Esc"))
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.photo_label)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._set_busy(False)
        self._build_actions()
        self._connect()
        self._show_device()  # the one given (gan3d-studio --device cpu), not the box's first
        self._restore_layout()

    # -- construction -------------------------------------------------------------------------

    def _dock(self, title: str, panel: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(panel)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, menu=None, toolbar=None) -> QAction:
        """``shortcut``: a key, or a list of keys that all trigger it (the first is shown)."""
        action = QAction(text, self)
        if isinstance(shortcut, list):
            action.setShortcuts([QKeySequence(key) for key in shortcut])
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        # triggered(checked) would hand its bool to a slot's first optional parameter
        # (save_screenshot's path): none of these actions is checkable, so pass nothing
        action.triggered.connect(lambda _checked=False: slot())
        if menu is not None:
            menu.addAction(action)
        if toolbar is not None:
            toolbar.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        file_menu = bar.addMenu("&File")
        self._action(
            "Open model…",
            self.model_panel._choose_file,
            QKeySequence.StandardKey.Open,
            file_menu,
            toolbar,
        )
        self._action("Open images…", self.reconstruct_panel._choose_files, "Ctrl+I", file_menu)
        self._action("Open shape…", self.open_shape, "Ctrl+Shift+I", file_menu)
        self._build_up_axis_menu(file_menu.addMenu("Shapes' up axis"))
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setToolTipsVisible(True)
        # listed afresh as it opens: a photo deleted since stayed in it (artist review)
        self.recent_menu.aboutToShow.connect(self._show_recent)
        self._show_recent()
        for key, step in PHOTO_STEP_KEYS.items():
            self._action(  # the key after a tab: shown in the menu, not made a shortcut
                f"{'Previous' if step < 0 else 'Next'} photo in folder\t"
                f"{QKeySequence(key).toString()}",
                lambda _=False, s=step: self.controller.step_photo(s),
                menu=file_menu,
            )
        file_menu.addSeparator()
        self._action("Open session…", self.open_session, "Ctrl+Shift+O", file_menu)
        self._action("Save session", self.save_session, QKeySequence.StandardKey.Save, file_menu)
        # by name: Windows has no standard Save As key
        self._action("Save session as…", self.save_session_as, "Ctrl+Shift+S", file_menu)
        file_menu.addSeparator()
        self._action("Export shape…", self.export_panel._choose_path, "Ctrl+E", file_menu, toolbar)
        self._action("Save latent…", self.save_latent, "Ctrl+Shift+E", file_menu)
        self._action("Screenshot…", self.save_screenshot, "F12", file_menu, toolbar)
        self._action(
            "Screenshot, transparent background…",
            lambda _=False: self.save_screenshot(transparent=True),
            "Ctrl+F12",
            file_menu,
        )
        file_menu.addSeparator()
        self._action("Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)
        edit_menu = bar.addMenu("&Edit")
        self.undo_action = self._action(
            "Undo", self.session.undo, QKeySequence.StandardKey.Undo, edit_menu, toolbar
        )
        self.redo_action = self._action(
            "Redo", self.session.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], edit_menu, toolbar
        )
        self._action(
            "New random shape", self.generate_panel.new_random, "Ctrl+R", edit_menu, toolbar
        )
        self._action("Bookmark current", self._bookmark, "Ctrl+B", edit_menu)
        view_menu = bar.addMenu("&View")
        # f3d's keys (the numeric keypad's layout): 1 front, 3 right, 7 top, 9 isometric,
        # 5 orthographic on/off, Enter reset.
        for preset, key in (
            ("front", "1"),
            ("side", "3"),
            ("top", "7"),
            ("isometric", "9"),
            ("reset", ["Return", "Enter"]),  # the main keyboard's and the keypad's
        ):
            self._action(
                f"Camera: {preset}",
                lambda _=False, p=preset: self.viewport.set_camera(p),
                key,
                view_menu,
            )
        self._action("Orthographic projection", self.viewport.toggle_orthographic, "5", view_menu)
        # Blender's keypad 0, the view through the camera: here the photo's, as estimated
        self.photo_camera_action = self._action(
            "Camera: as in the photo", self.view_as_in_photo, "0", view_menu
        )
        self.photo_camera_action.setEnabled(False)
        self._action("Keyboard shortcuts", self.show_shortcuts, "H", view_menu)
        for index, mode in enumerate(("smooth", "blocks", "points")):
            self._action(
                f"Show {mode}",
                lambda _=False, m=mode: self.session.set_view(mode=m),
                f"Ctrl+{index + 1}",
                view_menu,
            )
        self._update_undo()

    def _connect(self) -> None:
        controller, session = self.controller, self.session
        controller.error.connect(self.show_error)
        controller.status.connect(self.show_status)
        # a bound method, so the notice (sent from the worker thread) is queued to this one
        controller.notice.connect(self._show_notice)
        controller.progress.connect(self._progress)
        controller.busy_changed.connect(self._set_busy)
        self.cancel_button.clicked.connect(controller.cancel)
        controller.model_loaded.connect(self.model_panel.show_model)
        controller.model_loaded.connect(self._remember_model)
        controller.photos_reconstructed.connect(self._remember_photos)
        controller.photo_position.connect(self.photo_label.setText)
        controller.load_failed.connect(self._show_device)
        controller.reconstructed.connect(self._remember_photo_camera)
        controller.reading_changed.connect(self._show_reading)
        controller.exported.connect(self._remember_export)
        controller.frames_ready.connect(self._write_animation)
        controller.session_file_opened.connect(self.open_session)
        session.history_changed.connect(self._update_undo)
        for changed in (session.history_changed, session.bookmarks_changed, session.view_changed):
            changed.connect(self._show_modified)
        # another model clears the session: its file is no longer this one, Save asks again
        session.model_changed.connect(lambda _info: self._name_session(None))
        self.viewport.files_dropped.connect(controller.open_files)
        self.model_panel.open_requested.connect(controller.open_model)
        self.model_panel.device_changed.connect(controller.change_device)
        self.generate_panel.random_requested.connect(controller.new_random)
        self.generate_panel.class_changed.connect(controller.show_state)
        self.latent_panel.edited.connect(controller.show_state)
        # The panel's drop zone and the 3D view take drops by the same rule (open_files)
        self.reconstruct_panel.drop_zone.files_dropped.connect(controller.open_files)
        self.reconstruct_panel.reconstruct_requested.connect(controller.reconstruct)
        self.reconstruct_panel.cut_out_requested.connect(self.cut_out_object)
        self.reconstruct_panel.clear_box_button.clicked.connect(self._box_cleared)
        controller.cut_out_ready.connect(self._show_cut_out)
        self.interpolate_panel.bookmark_requested.connect(self._bookmark)
        self.interpolate_panel.edited.connect(controller.show_state)
        self.interpolate_panel.export_frames_requested.connect(self._export_frames)
        self.view_panel.camera_requested.connect(self.viewport.set_camera)
        self.export_panel.export_requested.connect(controller.export)
        controller.shape_shown.connect(self._name_export)

    # -- behaviour ----------------------------------------------------------------------------

    def show_status(self, text: str, over_notice: bool = False) -> None:
        """The status bar's line, whole in its tooltip (a long one is cut at the window's
        edge). A notice shows over it for 15 s; ``over_notice``: this is more pressing (an
        error, work under way), and the notice goes (an error stayed hidden under one)."""
        if over_notice:
            self.statusBar().clearMessage()
        self.status_label.setText(text)
        self.status_label.setToolTip(text)

    def show_error(self, message: str) -> None:
        """A non-modal message; the app keeps running and nothing else changes."""
        self.last_error = message
        self.show_status(message, over_notice=True)
        if self._error_box is None:
            self._error_box = QMessageBox(QMessageBox.Icon.Warning, "gan3d-studio", "", parent=self)
            self._error_box.setWindowModality(Qt.WindowModality.NonModal)
        self._error_box.setText(message)
        self._error_box.show()

    def _set_busy(self, busy: bool) -> None:
        """The bar stays in place (showing and hiding it re-lays out the status bar, which
        left stale pixels behind on X11); idle, it is empty."""
        if not busy:
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
        self.progress_bar.setEnabled(busy)
        self.cancel_button.setEnabled(busy)

    def _progress(self, fraction: float, message: str) -> None:
        """The bar shows how far; the status line what is going on ("fitting step 5 of 15
        (best silhouette IoU 0.68)" was cut to two clipped lines in the bar)."""
        self.progress_bar.setValue(round(fraction * 1000))
        self.progress_bar.setFormat("%p%")
        self.show_status(message, over_notice=True)

    def _update_undo(self) -> None:
        self.undo_action.setEnabled(self.session.can_undo)
        self.redo_action.setEnabled(self.session.can_redo)

    def _remember_model(self, info) -> None:
        self.model_panel.set_recent(self.recent_models.add([info.path]))
        self._show_recent()

    def _remember_photo_camera(self, result: Reconstruction) -> None:
        """Where the model thinks the (first) photo was taken from; the view turns there,
        so the shape is seen as the photo shows it (and 0 turns back to it)."""
        self._show_reading(result)
        self.view_as_in_photo()

    def _show_reading(self, result: Reconstruction | None) -> None:
        """The reading behind the shape shown now (an undo, a history click): the panel
        shows it and 0 looks from its photo's camera; the view stays where it is."""
        self.reconstruct_panel.show_reconstruction(result)
        self.photo_camera = result.cameras[0] if result is not None and result.cameras else None
        self.photo_camera_action.setEnabled(self.photo_camera is not None)

    def view_as_in_photo(self) -> None:
        if self.photo_camera is not None:
            self.viewport.view_from(*self.photo_camera)

    def _remember_photos(self, photos: list[Path]) -> None:
        self.recent_images.add(photos, together=True)  # one object's: read again together
        self._show_recent()

    def _show_recent(self) -> None:
        """File > Open recent: models, sessions, then images; an entry opens as if dropped
        here."""
        menu = self.recent_menu
        menu.clear()
        for recent in (self.recent_models, self.recent_sessions, self.recent_images):
            entries = recent.entries()
            if entries and not menu.isEmpty():
                menu.addSeparator()
            for entry in entries:
                names = [Path(path).name for path in entry]
                shown = names[0] if len(names) == 1 else f"{names[0]} + {len(names) - 1} more"
                action = menu.addAction(shown)
                action.setToolTip("\n".join(entry))
                action.triggered.connect(
                    lambda _=False, e=entry: self.controller.open_files([Path(p) for p in e])
                )
        menu.setEnabled(not menu.isEmpty())

    def _show_device(self) -> None:
        """The device in use in the device box (after a failed load too: it goes back)."""
        box = self.model_panel.device_box
        box.blockSignals(True)
        box.setCurrentText(self.controller.device)
        box.blockSignals(False)

    def _box_cleared(self) -> None:
        """An error about the box (one past a photo) is settled once the box is gone."""
        if self._error_box is not None:
            self._error_box.hide()
        self.show_status("Object box cleared: photos are separated automatically")

    def _bookmark(self) -> None:
        if self.session.current is None:
            self.show_error("Nothing to bookmark yet")
            return
        thumbnail = png_bytes(self.viewport.grab_image(), max_size=96)
        self.session.add_bookmark(
            f"#{len(self.session.bookmarks) + 1} {self.session.current.source}", thumbnail
        )

    def _build_up_axis_menu(self, menu) -> None:
        """Which way is up in the shape files opened next (remembered): most OBJ exports
        (Blender's) and ShapeNet are y up, ModelNet and STL files z up, glTF y up by its
        specification."""
        group = QActionGroup(menu)
        chosen = str(self.settings.value("shape_up_axis", "auto"))
        self.controller.shape_up_axis = chosen if chosen in UP_AXES else "auto"
        for axis, text in UP_AXES.items():
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(axis == self.controller.shape_up_axis)
            action.triggered.connect(lambda _=False, a=axis: self._set_up_axis(a))
            group.addAction(action)

    def _set_up_axis(self, axis: str) -> None:
        self.controller.shape_up_axis = axis
        self.settings.setValue("shape_up_axis", axis)

    def open_shape(self) -> None:
        """File > Open shape: a voxel grid or a mesh, brought into the model's latent space
        to edit, interpolate and export like a sample (staged models), or a latent file."""
        path, _ = QFileDialog.getOpenFileName(self, "Open shape", "", SHAPE_FILTER)
        if path:
            self.controller.open_files([Path(path)])

    def save_latent(self) -> None:
        """File > Save latent: the current shape's latent, for ``gan3d interpolate --latents``
        or to open again."""
        if self.session.current is None:  # said before a dialog asks for a name
            self.show_error("Nothing to save yet: open a model first")
            return
        start = Path(self.export_panel.last_folder or ".") / f"shape{LATENT_SUFFIX}"
        named = self._ask_save_path("Save latent", start, LATENT_FILTER, latent_file_path)
        if named is None:
            return
        try:
            written = self.session.save_latent(named)
        except Gan3dError as exc:
            self.show_error(first_line(exc))
            return
        self.show_status(f"Saved latent {written}")

    def _ask_save_path(self, title: str, start, name_filter: str, named) -> Path | None:
        """A file name asked for, as ``named`` names it (e.g. with the suffix its kind
        needs); None if cancelled. The dialog asked about replacing the name typed, so a
        renamed file that exists is asked about here."""
        path, _ = QFileDialog.getSaveFileName(self, title, str(start), name_filter)
        if not path:
            return None
        final = Path(named(path))
        if final != Path(path) and final.exists():
            answer = QMessageBox.question(self, title, f"{final} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return final

    def cut_out_object(self) -> None:
        """The box dialog on the last photo (or one chosen now). It opens once the photo's
        automatic mask is in, so a photo that cannot be read opens nothing."""
        photo = self.controller.photo
        if photo is None:
            path, _ = QFileDialog.getOpenFileName(self, "Photo to cut out", "", IMAGE_FILTER)
            if not path:
                return
            photo = Path(path)
        self.show_status(f"Finding the object in {photo.name}...")
        self.controller.cut_out(photo, None)

    def _show_cut_out(self, cut_out: CutOut) -> None:
        if self.cut_out_dialog is not None:
            self.cut_out_dialog.show_cut_out(cut_out)
            return
        dialog = self.cut_out_dialog = CutOutDialog(cut_out, self)
        dialog.box_drawn.connect(lambda box: self.controller.cut_out(dialog.photo, box))
        dialog.finished.connect(self._cut_out_finished)
        dialog.open()
        self.show_status(f"Draw a box around the object in {Path(dialog.photo).name}")
        if self.session.reconstruct_options.box is not None:
            dialog.offer_box(self.session.reconstruct_options.box)

    def _cut_out_finished(self, result: int) -> None:
        dialog, self.cut_out_dialog = self.cut_out_dialog, None
        self.controller.stop_cut_out()
        dialog.deleteLater()
        if result == QDialog.DialogCode.Accepted:
            # the box becomes a reconstruct option: later photos get it too, as with --box
            self.session.set_reconstruct_options(box=dialog.box, box_photo_size=dialog.shown.size)
            self.controller.reconstruct([dialog.photo])
        else:
            self.show_status("Cut-out cancelled; the options are as they were")

    def shortcut_sheet(self) -> str:
        """Every action with a key, as HTML rows (the H cheat sheet)."""
        keys = []
        for action in self.findChildren(QAction):
            text, _, key = action.text().replace("&", "").partition("\t")
            key = ", ".join(shortcut.toString() for shortcut in action.shortcuts()) or key
            if key:
                keys.append((key, text))
        # a button in the status bar, not an action; its tooltip names the key too
        cancel = self.cancel_button
        keys.append((cancel.shortcut().toString(), cancel.toolTip().split(" (")[0]))
        keys += PANEL_KEYS
        rows = "".join(f"<tr><td><b>{key}</b></td><td>{text}</td></tr>" for key, text in keys)
        return f"<table cellspacing=4>{rows}</table>"

    def keyPressEvent(self, event) -> None:
        step = PHOTO_STEP_KEYS.get(event.key())
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if step is not None and modifiers == Qt.KeyboardModifier.NoModifier:
            self.controller.step_photo(step)
        else:
            super().keyPressEvent(event)

    def _remember_export(self, path: str) -> None:
        self.export_panel.remember(path)
        self.settings.setValue("last_export", path)
        self.settings.setValue("export_settings", json.dumps(self.export_panel.settings()))

    def _show_notice(self, text: str) -> None:
        self.statusBar().showMessage(text, NOTICE_MS)

    def show_shortcuts(self) -> None:
        if self.shortcut_dialog is None:
            self.shortcut_dialog = QMessageBox(self)
            self.shortcut_dialog.setWindowTitle("Keyboard shortcuts")
            self.shortcut_dialog.setModal(False)
        self.shortcut_dialog.setText(self.shortcut_sheet())
        self.shortcut_dialog.show()

    def save_screenshot(self, path: str | None = None, transparent: bool = False) -> None:
        """The 3D view's frame, in the picture format the file's suffix names (PNG for
        any other); ``transparent``: the background left out (PNG, WebP, TIFF)."""
        if path is None:
            folder = str(self.settings.value("screenshot_folder", "")) or "."
            path = self._ask_save_path(
                "Screenshot", Path(folder) / "gan3d.png", SCREENSHOT_FILTER, screenshot_file_path
            )
            if path is None:
                return
        try:
            image = self.viewport.grab_image(transparent=transparent)
            kind = PICTURE_FORMATS.get(Path(path).suffix.lower(), "PNG")
            write_bytes_atomic(path, picture_bytes(image, kind))
        except Gan3dError as exc:
            self.show_error(first_line(exc))
            return
        self.settings.setValue("screenshot_folder", str(Path(path).absolute().parent))
        self.show_status(f"Saved screenshot {path}")

    def _export_frames(self, start, end, steps: int) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export interpolation",
            "interpolation.gif",
            "Animation (*.gif *.mp4);;Meshes (*.stl *.3mf *.obj *.ply *.glb)",
        )
        if path and not Path(path).suffix:  # a bare name: the chosen filter's first format
            path += ".stl" if chosen.startswith("Meshes") else ".gif"
        if path and Path(path).suffix.lower() not in ANIMATION_SUFFIXES:
            there = series_files_there(Path(path))
            if there and not self._replace_series(Path(path), there):
                return
        if path:
            self.controller.export_frames(
                start, end, steps, self.interpolate_panel.method_box.currentText(), Path(path),
                self.export_panel.options(),
            )  # fmt: skip

    def _replace_series(self, target: Path, there: list[Path]) -> bool:
        """Whether to write a series of meshes as ``target`` over the files ``there`` of an
        earlier one, asked (all of them go: the folder then holds the new series alone)."""
        answer = QMessageBox.question(
            self,
            "gan3d-studio",
            f"{len(there)} files of an earlier series are in {target.parent} "
            f"({there[0].name} to {there[-1].name}). Replace them with this one?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _write_animation(self, results: list, target: Path) -> None:
        """Animation frames are drawn in the 3D view (VTK lives on this thread)."""
        try:
            write_animation(self.viewport.grab_frames(results), target)
        except Gan3dError as exc:
            self.show_error(first_line(exc))
            return
        self.show_status(f"Exported {len(results)} frames to {target}")

    def open_session(self, path: str | Path | None = None) -> None:
        """A session file (``path``, dropped or given; None: asked for) restored on the
        model in use."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open session", "", SESSION_FILTER)
            if not path:
                return
        try:
            data = read_session_file(path)
            if not self.session.made_with(data):
                made_with = data.get("model_path")
                if isinstance(made_with, str) and Path(made_with).is_file():
                    # its model first (asking before unsaved work goes), then the session;
                    # not another model saved under that name since
                    fingerprint = data.get("model_card_sha256")
                    if fingerprint and not is_model(read_model_card(made_with), fingerprint):
                        raise UsageError(f"made with {made_with}, which holds another model now")
                    self.controller.open_model(made_with, then_open=[Path(path)])
                    return
                raise UsageError(
                    f"made with {made_with}; open that model first"
                    if made_with
                    else "it does not say which model it was made with"
                )
            # asked once the file is known good: a bad one changes nothing and asks nothing
            if not self.session.restore(
                data, lambda: self.may_discard_work(f"opening {Path(path).name}")
            ):
                return
            if self.session.camera is not None:
                self.viewport.set_camera_state(self.session.camera)
            self._name_session(Path(path))
            self._show_notice(f"Opened session {path}")
        except Gan3dError as exc:
            message = first_line(exc)  # an InputFileError names the file already
            self.controller.error.emit(
                message if isinstance(exc, InputFileError) else f"{path}: {message}"
            )
            model = self.session.model
            if self.session.current is None and model is not None:  # given at launch
                self.controller.new_random(seed=0, label=0 if model.conditional else None)

    def save_session(self) -> bool:
        """Save the session to its file (the one opened or saved as), or ask where first;
        whether it was saved."""
        return self._save_session_to(self.session_path)

    def save_session_as(self) -> bool:
        """Ask where (beside the session's file, if it has one), and save the session there."""
        return self._save_session_to(None)

    def _save_session_to(self, path: Path | None) -> bool:
        if path is None:
            start = self.session_path or "session.g3session.json"
            path = self._ask_save_path(
                "Save session", start, SESSION_SAVE_FILTER, session_file_path
            )
            if path is None:
                return False
        self.session.camera = self.viewport.camera_state()
        try:
            self.session.save(path)
        except Gan3dError as exc:
            self.show_error(first_line(exc))
            return False
        self._name_session(Path(path))
        self.show_status(f"Saved session {path}")
        return True

    def _name_session(self, path: Path | None) -> None:
        """The file Save writes, named in the title bar."""
        self.session_path = path
        if path is not None:  # opened or saved: listed in File > Open recent
            self.recent_sessions.add([path.absolute()])
            self._show_recent()
        self.setWindowTitle(f"{path.name}[*] - gan3d-studio" if path else "gan3d-studio[*]")
        self._show_modified()

    def _name_export(self, _shown=None) -> None:
        """The export dialog offers the shown shape's photo's name (chelsea.stl), or its
        class's, not shape.stl every time."""
        self.export_panel.suggested_name = self.controller.suggested_name()

    def _show_modified(self) -> None:
        self.setWindowModified(self.session.has_unsaved_work)

    def may_discard_work(self, action: str) -> bool:
        """Whether ``action``, which clears the session, may go on: nothing unsaved would be
        lost, or the user saved it or chose to let it go."""
        if not self.session.has_unsaved_work:
            return True
        answer = self.ask_to_save_work(action)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_session()
        return answer == QMessageBox.StandardButton.Discard

    def ask_to_save_work(self, action: str) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel, asked before ``action`` (e.g. "closing")."""
        shapes, marks = len(self.session.history), len(self.session.bookmarks)
        held = f"{shapes} shapes in its history" + (
            f" and {marks} bookmark{'s' if marks != 1 else ''}" if marks else ""
        )
        buttons = QMessageBox.StandardButton
        return QMessageBox.question(
            self,
            "gan3d-studio",
            f"Save this session ({held}) before {action}? Without saving they are lost.",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:
            for docks, sizes, orientation in self._default_dock_sizes:
                self.resizeDocks(docks, sizes, orientation)

    def closeEvent(self, event) -> None:
        """Offer to save unsaved work, then cancel work, stop the worker thread and close
        the viewport. Idempotent."""
        if not self._closed and not self.may_discard_work("closing"):
            event.ignore()
            return
        if not self._closed:
            self._closed = True
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.setValue("window_state", self.saveState())
            self.settings.sync()
            self.interpolate_panel.timer.stop()
            if self.cut_out_dialog is not None:
                self.cut_out_dialog.reject()
            self.controller.shutdown()
            self.viewport.close()
        super().closeEvent(event)


def write_animation(frames: list, target: Path) -> None:
    """Write uint8 frames as a GIF or MP4, atomically."""
    import imageio.v3 as iio

    buffer = io.BytesIO()
    if target.suffix.lower() == ".gif":
        iio.imwrite(buffer, frames, extension=".gif", duration=80, loop=0)
    else:
        try:
            iio.imwrite(buffer, frames, extension=".mp4", fps=12)
        except Exception as exc:  # imageio raises several types when no MP4 backend exists
            raise UsageError(
                f"{target}: MP4 needs an ffmpeg backend (pip install imageio-ffmpeg): {exc}"
            ) from None
    write_bytes_atomic(target, buffer.getvalue())
