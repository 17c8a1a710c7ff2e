"""Bookmarks, interpolation between two of them (t slider, play, GIF/MP4 and mesh export)
and latent arithmetic (A - B + C with weights)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gan3d_core.latent import combine_latents, interpolated_label, lerp, slerp
from gan3d_studio.panels.widgets import ScrollSafeSlider, keep_enter
from gan3d_studio.session import Session
from gan3d_studio.wire import LatentState

T_STEPS = 100


class InterpolatePanel(QWidget):
    """Emits ``bookmark_requested``, ``edited(state, record)`` and
    ``export_frames_requested(a, b, steps)``."""

    bookmark_requested = Signal()
    edited = Signal(object, bool)
    export_frames_requested = Signal(object, object, int)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._counted = 0  # bookmarks when the A/B/C defaults were last chosen
        self.bookmark_button = QPushButton("Bookmark current")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Remove the chosen bookmark (Delete); double-click one to rename it"
        )
        self.bookmark_list = QListWidget()
        self.bookmark_list.setMaximumHeight(110)
        self.bookmark_list.setEditTriggers(
            QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed
        )
        self.bookmark_list.installEventFilter(self)  # Delete removes the chosen bookmark
        self.a_box, self.b_box, self.c_box = QComboBox(), QComboBox(), QComboBox()
        self.method_box = QComboBox()
        self.method_box.addItems(["slerp", "lerp"])
        self.t_slider = ScrollSafeSlider()
        self.t_slider.setRange(0, T_STEPS)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.steps_box = QSpinBox()
        self.steps_box.setRange(2, 240)
        self.steps_box.setValue(24)
        self.export_button = QPushButton("Export frames…")
        self.weights = [QDoubleSpinBox() for _ in range(3)]
        for box, value in zip(self.weights, (1.0, -1.0, 1.0)):
            box.setRange(-5.0, 5.0)
            box.setSingleStep(0.1)
            box.setValue(value)
        self.apply_button = QPushButton("Apply A·wA + B·wB + C·wC")
        self.timer = QTimer(self)
        self.timer.setInterval(80)
        pick = QFormLayout()
        pick.addRow("A", self.a_box)
        pick.addRow("B", self.b_box)
        pick.addRow("C (arithmetic)", self.c_box)
        pick.addRow("Path", self.method_box)
        play = QHBoxLayout()
        play.addWidget(self.t_slider, 1)
        play.addWidget(self.play_button)
        frames = QHBoxLayout()
        frames.addWidget(self.steps_box)
        frames.addWidget(self.export_button)
        weights = QGridLayout()
        for column, (name, box) in enumerate(zip("ABC", self.weights)):
            weights.addWidget(box, 0, column)
            box.setPrefix(f"w{name} ")
        marks = QHBoxLayout()
        marks.addWidget(self.bookmark_button, 1)
        marks.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.addLayout(marks)
        layout.addWidget(self.bookmark_list)
        layout.addLayout(pick)
        layout.addLayout(play)
        layout.addLayout(frames)
        layout.addLayout(weights)
        layout.addWidget(self.apply_button)
        self.bookmark_button.clicked.connect(self.bookmark_requested)
        self.remove_button.clicked.connect(self.remove_chosen)
        self.bookmark_list.itemChanged.connect(self._renamed)
        keep_enter(self.bookmark_list.viewport())  # the rename's editor is its child
        self.t_slider.valueChanged.connect(self._t_moved)
        self._t_pressed_at = 0  # a click let go where it was pressed records nothing
        self.t_slider.sliderPressed.connect(
            lambda: setattr(self, "_t_pressed_at", self.t_slider.value())
        )
        self.t_slider.sliderReleased.connect(self._t_released)
        self.play_button.toggled.connect(self._play)
        self.timer.timeout.connect(self._tick)
        self.export_button.clicked.connect(self._export)
        self.apply_button.clicked.connect(self.apply_arithmetic)
        session.bookmarks_changed.connect(self.refresh)
        self.refresh()

    def eventFilter(self, watched, event) -> bool:
        if (
            watched is self.bookmark_list
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
            and self.bookmark_list.state() != QListWidget.State.EditingState
        ):
            self.remove_chosen()
            return True
        return super().eventFilter(watched, event)

    def _renamed(self, item: QListWidgetItem) -> None:
        row, text = self.bookmark_list.row(item), item.text()
        if not text.strip():  # no blank names: the list shows the name kept again
            blocker = QSignalBlocker(self.bookmark_list)
            item.setText(self.session.bookmarks[row].name)
            blocker.unblock()
            return
        self.session.rename_bookmark(row, text)  # the list is filled again: item is gone

    def remove_chosen(self) -> None:
        row = self.bookmark_list.currentRow()
        if 0 <= row < len(self.session.bookmarks):
            self.session.remove_bookmark(row)

    def refresh(self) -> None:
        blocker = QSignalBlocker(self.bookmark_list)  # filling the list renames nothing
        chosen = self.bookmark_list.currentRow()  # stays chosen, or the one now in its place
        self.bookmark_list.clear()
        for box in (self.a_box, self.b_box, self.c_box):
            previous = box.currentIndex()
            box.clear()
            for bookmark in self.session.bookmarks:
                box.addItem(bookmark.name)
            box.setCurrentIndex(min(max(previous, 0), box.count() - 1))
        for bookmark in self.session.bookmarks:
            item = QListWidgetItem(bookmark.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if bookmark.thumbnail_png:
                pixmap = QPixmap()
                pixmap.loadFromData(bookmark.thumbnail_png)
                item.setIcon(QIcon(pixmap))
            self.bookmark_list.addItem(item)
        if chosen >= 0 and self.bookmark_list.count():
            self.bookmark_list.setCurrentRow(min(chosen, self.bookmark_list.count() - 1))
        blocker.unblock()
        self.remove_button.setEnabled(bool(self.session.bookmarks))
        if len(self.session.bookmarks) != self._counted:  # a rename keeps the user's choices
            self._counted = len(self.session.bookmarks)
            self._choose_defaults()
        enough = len(self.session.bookmarks) >= 2
        for widget in (self.t_slider, self.play_button, self.export_button, self.apply_button):
            widget.setEnabled(enough)

    def _choose_defaults(self) -> None:
        """A and B two bookmarks; C the third, or A when there are two (2A - B, beyond A:
        C = B gave A back unchanged)."""
        count = len(self.session.bookmarks)
        if count >= 2 and self.b_box.currentIndex() == self.a_box.currentIndex():
            self.b_box.setCurrentIndex(1)
        if count >= 3 and self.c_box.currentIndex() in (
            self.a_box.currentIndex(),
            self.b_box.currentIndex(),
        ):  # A - B + C of three bookmarks, not 2A - B
            self.c_box.setCurrentIndex(next(
                i for i in range(3) if i not in (self.a_box.currentIndex(), self.b_box.currentIndex())
            ))  # fmt: skip
        if count < 3:
            self.c_box.setCurrentIndex(self.a_box.currentIndex())

    def _pair(self) -> tuple[LatentState, LatentState] | None:
        marks = self.session.bookmarks
        a, b = self.a_box.currentIndex(), self.b_box.currentIndex()
        if len(marks) < 2 or a < 0 or b < 0:
            return None
        return marks[a].state, marks[b].state

    def state_at(self, t: float) -> LatentState | None:
        pair = self._pair()
        if pair is None:
            return None
        a, b = pair
        function = slerp if self.method_box.currentText() == "slerp" else lerp
        label = interpolated_label(a.label, b.label, t)
        return LatentState(function(a.latent, b.latent, t), label, f"interpolation t={t:.2f}")

    def _t_moved(self, value: int, record: bool = False) -> None:
        state = self.state_at(value / T_STEPS)
        if state is not None:
            self.edited.emit(
                state, record or not (self.t_slider.isSliderDown() or self.timer.isActive())
            )

    def _t_released(self) -> None:
        if self.t_slider.value() != self._t_pressed_at:
            self._t_moved(self.t_slider.value(), record=True)

    def _play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start()
        else:  # the frames played were previews; where it pauses is recorded, as a release is
            self.timer.stop()
            self._t_moved(self.t_slider.value(), record=True)

    def _tick(self) -> None:
        self.t_slider.setValue((self.t_slider.value() + 2) % (T_STEPS + 1))

    def _export(self) -> None:
        pair = self._pair()
        if pair is not None:
            self.export_frames_requested.emit(pair[0], pair[1], self.steps_box.value())

    def apply_arithmetic(self) -> None:
        marks = self.session.bookmarks
        boxes = (self.a_box, self.b_box, self.c_box)
        chosen = [
            (marks[b.currentIndex()].state, w.value())
            for b, w in zip(boxes, self.weights)
            if b.currentIndex() >= 0
        ]
        if len(chosen) < 2:
            return
        latent = combine_latents([s.latent for s, _ in chosen], [w for _, w in chosen])
        description = " ".join(
            f"{w.value():+g}·{b.currentText()}"
            for b, w in zip(boxes, self.weights)
            if b.currentIndex() >= 0
        )
        self.edited.emit(LatentState(latent, chosen[0][0].label, f"arithmetic {description}"), True)
