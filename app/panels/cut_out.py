"""The box dialog: drag a box around the object in a cluttered photo and see what
preprocessing keeps of it (GrabCut inside the box), before the photo is reconstructed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from gan3d_core.images import Box
from gan3d_studio.wire import CutOut

GRIP_PX = 8  # a press this near (screen pixels) to an edge or corner drags it
MIN_BOX_PX = 2  # GrabCut's least box side, in photo pixels
BOX_COLOUR = "#ffb000"
DROPPED_COLOUR = np.array([20, 30, 60], np.float32)  # what dropped pixels are dimmed towards
LITTLE_OF_THE_BOX = 0.1  # a mask keeping less of the box than this gets a hint
DROPPED_BRIGHTNESS = 0.3  # of a dropped pixel's own colour that is left
CURSORS = {
    "": Qt.CursorShape.CrossCursor,  # a new box
    "move": Qt.CursorShape.SizeAllCursor,
    "l": Qt.CursorShape.SizeHorCursor,
    "r": Qt.CursorShape.SizeHorCursor,
    "t": Qt.CursorShape.SizeVerCursor,
    "b": Qt.CursorShape.SizeVerCursor,
    "lt": Qt.CursorShape.SizeFDiagCursor,
    "rb": Qt.CursorShape.SizeFDiagCursor,
    "rt": Qt.CursorShape.SizeBDiagCursor,
    "lb": Qt.CursorShape.SizeBDiagCursor,
}


def mask_overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3): the photo with the pixels the mask drops dimmed."""
    dimmed = image * DROPPED_BRIGHTNESS + DROPPED_COLOUR * (1 - DROPPED_BRIGHTNESS)
    return np.where(mask[:, :, None], image, dimmed.astype(np.uint8))


def whole_pixels(rect: QRectF) -> Box:
    """``rect`` as a box in whole pixels; its edges are rounded, so it stays inside the photo."""
    left, top = round(rect.left()), round(rect.top())
    return left, top, round(rect.right()) - left, round(rect.bottom()) - top


def _pixmap(image: np.ndarray) -> QPixmap:
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())  # the copy owns its pixels


class BoxCanvas(QWidget):
    """A photo fitted to the widget with an adjustable box: a drag outside the box draws a
    new one, inside moves it, on an edge or corner resizes it. ``box_drawn(box)`` at the end
    of each drag that changed it, in the photo's pixels."""

    box_drawn = Signal(tuple)

    def __init__(self, photo_size: tuple[int, int], parent=None) -> None:
        super().__init__(parent)
        self.photo_size = photo_size  # (width, height) in pixels
        self.box_rect: QRectF | None = None  # in the photo's pixels
        self._picture: QPixmap | None = None
        self._drag: tuple[str, QPointF, QRectF | None] | None = None  # grip, start, box then
        self.setMouseTracking(True)  # the cursor tells what a press would drag
        self.setMinimumSize(320, 240)

    @property
    def box(self) -> Box | None:
        return None if self.box_rect is None else whole_pixels(self.box_rect)

    def set_box(self, box: Box | None) -> None:
        self.box_rect = None if box is None else QRectF(*box)
        self.update()

    def set_picture(self, image: np.ndarray, mask: np.ndarray) -> None:
        self._picture = _pixmap(mask_overlay(image, mask))
        self.update()

    # -- between screen and photo pixels -------------------------------------------------------

    def photo_area(self) -> QRectF:
        """Where the photo is drawn: as large as fits, centred, its aspect kept."""
        width, height = self.photo_size
        scale = min(self.width() / width, self.height() / height)
        return QRectF(
            (self.width() - width * scale) / 2,
            (self.height() - height * scale) / 2,
            width * scale,
            height * scale,
        )

    def to_photo(self, point: QPointF) -> QPointF:
        area = self.photo_area()
        scale = area.width() / self.photo_size[0]
        return QPointF((point.x() - area.left()) / scale, (point.y() - area.top()) / scale)

    def to_screen(self, point: QPointF) -> QPointF:
        area = self.photo_area()
        scale = area.width() / self.photo_size[0]
        return QPointF(area.left() + point.x() * scale, area.top() + point.y() * scale)

    def _screen_box(self) -> QRectF:
        return QRectF(
            self.to_screen(self.box_rect.topLeft()), self.to_screen(self.box_rect.bottomRight())
        )

    def _grip(self, point: QPointF) -> str:
        """What a press at ``point`` (screen) would drag: "" (a new box), "move", or the
        edges within reach, the nearer of each pair ("lt": the top-left corner)."""
        if self.box_rect is None:
            return ""
        box = self._screen_box()
        if not box.adjusted(-GRIP_PX, -GRIP_PX, GRIP_PX, GRIP_PX).contains(point):
            return ""
        across = min((abs(point.x() - box.left()), "l"), (abs(point.x() - box.right()), "r"))
        down = min((abs(point.y() - box.top()), "t"), (abs(point.y() - box.bottom()), "b"))
        edges = "".join(edge for distance, edge in (across, down) if distance <= GRIP_PX)
        return edges or ("move" if box.contains(point) else "")

    # -- mouse --------------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            point = event.position()
            before = None if self.box_rect is None else QRectF(self.box_rect)
            self._drag = (self._grip(point), self.to_photo(point), before)

    def mouseMoveEvent(self, event) -> None:
        if self._drag is None:
            self.setCursor(CURSORS[self._grip(event.position())])
            return
        grip, start, before = self._drag
        here = self.to_photo(event.position())
        width, height = self.photo_size
        if not grip:
            box = QRectF(start, here).normalized()
        elif grip == "move":  # the whole box, stopped at the photo's edges
            dx = min(max(here.x() - start.x(), -before.left()), width - before.right())
            dy = min(max(here.y() - start.y(), -before.top()), height - before.bottom())
            box = before.translated(dx, dy)
        else:
            box = QRectF(before)
            for edge, set_edge, value in (("l", box.setLeft, here.x()), ("r", box.setRight, here.x()),
                                          ("t", box.setTop, here.y()), ("b", box.setBottom, here.y())):  # fmt: skip
                if edge in grip:
                    set_edge(value)
            box = box.normalized()
        self.box_rect = box.intersected(QRectF(0, 0, width, height))
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        _grip, _start, before = self._drag
        self._drag = None
        box = self.box
        if box is None or min(box[2:]) < MIN_BOX_PX:  # a click, not a box: keep the last
            self.box_rect = before
            self.update()
        elif before is None or box != whole_pixels(before):
            self.box_drawn.emit(box)

    # -- drawing ------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._picture is not None:
            painter.drawPixmap(self.photo_area(), self._picture, QRectF(self._picture.rect()))
        if self.box_rect is not None:
            box = self._screen_box()
            painter.setPen(QPen(QColor(BOX_COLOUR), 2))
            painter.drawRect(box)
            painter.setBrush(QColor(BOX_COLOUR))
            handle = QSizeF(7, 7)
            for corner in (box.topLeft(), box.topRight(), box.bottomLeft(), box.bottomRight()):
                painter.drawRect(QRectF(corner - QPointF(3.5, 3.5), handle))
        painter.end()


class CutOutDialog(QDialog):
    """One photo with its mask and a box; ``box_drawn(box)`` asks for the mask of a new box
    (shown by :meth:`show_cut_out` when it comes). Accepted, :attr:`box` is the one to use."""

    box_drawn = Signal(tuple)

    def __init__(self, cut_out: CutOut, parent=None) -> None:
        super().__init__(parent)
        self.photo = cut_out.photo
        self.shown = cut_out  # the mask on screen
        self.setWindowTitle(f"Cut out the object: {Path(cut_out.photo).name}")
        self.canvas = BoxCanvas(cut_out.size)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Reconstruct with this box")
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.canvas.box_drawn.connect(self._ask_for_mask)
        self.show_cut_out(cut_out)
        height, width = cut_out.image.shape[:2]
        # the photo at the size it came in, or smaller to fit the screen (the canvas scales
        # it): a portrait photo's dialog put its buttons below a 700 px screen
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        fit = min(1.0, (screen.width() - 24) / width, (screen.height() - 160) / height)
        self.resize(round(width * fit) + 24, round(height * fit) + 110)

    @property
    def box(self) -> Box | None:
        return self.canvas.box

    def offer_box(self, box: Box) -> None:
        """Start from ``box`` (the one in use) if it lies inside this photo."""
        x, y, width, height = box
        if x + width <= self.shown.size[0] and y + height <= self.shown.size[1]:
            self.canvas.set_box(box)
            self._ask_for_mask(box)

    def show_cut_out(self, cut_out: CutOut) -> None:
        if cut_out.photo != self.photo:
            return
        self.shown = cut_out
        self.canvas.set_picture(cut_out.image, cut_out.mask)
        self._explain()

    def _ask_for_mask(self, box: Box) -> None:
        self._explain()
        self.box_drawn.emit(box)

    def _box_share_kept(self, box: Box) -> float:
        """The share of ``box`` (photo pixels) that the shown mask (scaled down) keeps."""
        mask = self.shown.mask
        scale = mask.shape[1] / self.shown.size[0]
        x, y, width, height = (round(value * scale) for value in box)
        inside = mask[y : y + max(1, height), x : x + max(1, width)]
        return float(inside.mean()) if inside.size else 1.0  # a sliver past the scaled edge

    def _explain(self) -> None:
        box = self.box
        cut_out = self.shown.method == "cut-out"
        nothing = box is not None and box == self.shown.box and not self.shown.mask.any()
        self.ok_button.setEnabled(box is not None and not cut_out and not nothing)
        kept = f"Kept, bright: {self.shown.mask.mean():.0%} of the photo."
        if cut_out:
            text = f"A cut-out: its transparency marks the object, so a box changes nothing. {kept}"
        elif nothing:
            text = (
                "GrabCut kept nothing inside this box: drag it around the object, a little larger."
            )
        elif box is None:
            text = f"Found without a box. {kept} Drag a box around the object to mark it."
        elif box == self.shown.box:
            share = self._box_share_kept(box)
            text = (
                f"GrabCut kept only {share:.0%} of the box: if the object is more than the "
                "bright part, drag the box or its edges to fit it."
                if share < LITTLE_OF_THE_BOX
                else f"GrabCut inside the box. {kept} Drag the box or its edges to adjust."
            )
        else:
            text = "Separating the object inside the box…"
        self.note.setText(text)
