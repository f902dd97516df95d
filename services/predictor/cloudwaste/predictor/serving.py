"""Serving one live model per kind, and swapping in a newly activated version live.

A `ModelHolder` loads its kind's active version at start and polls the registry; a new version is
loaded beside the old one and swapped in with one reference assignment, so no request is dropped.
If the new version fails to load, the old one keeps serving. `ServedModels` holds one per kind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cloudwaste.core.errors import FailedPrecondition, Unavailable
from cloudwaste.predictor import kinds
from cloudwaste.predictor.kinds import ModelKind, ServedModel
from cloudwaste.predictor.metrics import (
    ACTIVE_VERSION,
    MODEL_INFO,
    MODEL_READY,
    MODEL_TRAINED,
    SHADOW_VERSION,
    TRAINING_RUNS,
)

log = logging.getLogger(__name__)

# fetch_active(kind) -> (name, onnx bytes) of the kind's active version, or None; fetch_name(kind)
# -> its name only (the cheap poll)
FetchActive = Callable[[str], tuple[str, bytes] | None]
FetchName = Callable[[str], str | None]


def _none(kind: str) -> None:
    return None


class ModelHolder:
    def __init__(
        self,
        kind: ModelKind,
        fetch_active: FetchActive,
        fetch_name: FetchName,
        poll_seconds: float = 30.0,
        fetch_shadow: FetchActive = _none,
        fetch_shadow_name: FetchName = _none,
        fetch_training_counts: Callable[[str], dict[str, int]] | None = None,
    ) -> None:
        self.kind = kind
        self._fetch_training_counts = fetch_training_counts
        self._fetch_active, self._fetch_name = fetch_active, fetch_name
        self._fetch_shadow, self._fetch_shadow_name = fetch_shadow, fetch_shadow_name
        self.poll_seconds = poll_seconds
        # the version scored beside the active one on live requests (SetModelVersionRole), if any
        self.shadow: ServedModel | None = None
        self._model: ServedModel | None = kind.builtin()
        if self._model is not None:
            ACTIVE_VERSION.labels(kind.name).set(0)
            MODEL_INFO.labels(kind.name).info({"version": "0", "algorithm": "builtin"})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # the active version that does not load (corrupt bytes, an incompatible graph): said once,
        # not fetched again every poll, and named to callers while nothing else serves
        self._broken: str | None = None
        MODEL_READY.labels(kind.name).set_function(lambda: 1.0 if self.ready else 0.0)

    @property
    def model(self) -> ServedModel:
        model = self._model
        if model is None:
            if self._broken:
                raise FailedPrecondition(
                    f"{self._broken} is the active {self.kind.name} model but does not load; make "
                    "another version active (SetModelVersionRole) or train a new one (TrainModels)"
                )
            raise FailedPrecondition(self.kind.no_model)
        return model

    @property
    def ready(self) -> bool:
        return self._model is not None

    def refresh(self) -> bool:
        """Loads the active version (and the shadow) if it changed. Returns whether a new active
        model was swapped in."""
        if not self.kind.trainable:
            return False  # its built-in model is the only one
        swapped = self._refresh_active()
        self._refresh_shadow()
        if self._fetch_training_counts is not None:
            counts = self._fetch_training_counts(self.kind.name)
            for state in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED"):
                TRAINING_RUNS.labels(self.kind.name, state).set(counts.get(state, 0))
        return swapped

    def _refresh_shadow(self) -> None:
        with self._lock:
            name = self._fetch_shadow_name(self.kind.name)
            current = self.shadow.name if self.shadow is not None else None
            if name == current:
                return
            fetched = self._fetch_shadow(self.kind.name) if name is not None else None
            if fetched is None:
                self.shadow = None
                SHADOW_VERSION.labels(self.kind.name).set(0)
                log.info("shadow model removed", extra={"previous": current})
                return
            try:
                self.shadow = self.kind.load(fetched[1], fetched[0])
            except Exception:
                log.exception("shadow model failed to load; no shadow", extra={"model": fetched[0]})
                self.shadow = None
                return
            SHADOW_VERSION.labels(self.kind.name).set(int(fetched[0].rsplit("/", 1)[-1]))
            log.info("shadow model loaded", extra={"model": fetched[0], "previous": current})

    def _refresh_active(self) -> bool:
        with self._lock:
            name = self._fetch_name(self.kind.name)
            current = self._model.name if self._model else None
            if name is None or name == current or name == self._broken:
                return False
            fetched = self._fetch_active(self.kind.name)
            if fetched is None:
                return False
            name, onnx = fetched
            try:
                model = self.kind.load(onnx, name)
            except Exception as exc:
                self._broken = name
                log.error(
                    "the active model does not load; "
                    + ("keeping the current one" if current else "no model of this kind is served"),
                    extra={"model": name, "current": current, "error": f"{type(exc).__name__}: {str(exc)[:300]}"},
                )
                return False
            self._model, self._broken = model, None
            version = name.rsplit("/", 1)[-1]
            ACTIVE_VERSION.labels(self.kind.name).set(int(version))
            MODEL_INFO.labels(self.kind.name).info(
                {"version": version, "algorithm": getattr(model, "algorithm", "") or "unknown"}
            )
            trained_at = getattr(model, "trained_at", None)
            if trained_at is not None:
                MODEL_TRAINED.labels(self.kind.name).set(trained_at)
            log.info("model activated", extra={"model": name, "previous": current})
            return True

    def start(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception(
                "could not load the active model at start; will retry", extra={"kind": self.kind.name}
            )
        self._thread = threading.Thread(target=self._poll, name=f"model-poller-{self.kind.name}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        down = False  # the registry (the database) did not answer: said once, not every poll
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Unavailable as exc:
                if not down:
                    log.warning(
                        "model registry unreachable; serving what is loaded", extra={"error": str(exc)}
                    )
                down = True
                continue
            except Exception:
                log.exception("model poll failed", extra={"kind": self.kind.name})
            if down:
                log.info("model registry reachable again", extra={"kind": self.kind.name})
                down = False

    def stop(self) -> None:
        self._stop.set()


class ServedModels:
    """One holder per registered model kind."""

    def __init__(
        self,
        fetch_active: FetchActive,
        fetch_name: FetchName,
        poll_seconds: float = 30.0,
        fetch_shadow: FetchActive = _none,
        fetch_shadow_name: FetchName = _none,
        fetch_training_counts: Callable[[str], dict[str, int]] | None = None,
    ) -> None:
        self.holders = {
            name: ModelHolder(
                kind,
                fetch_active,
                fetch_name,
                poll_seconds,
                fetch_shadow,
                fetch_shadow_name,
                fetch_training_counts,
            )
            for name, kind in kinds.KINDS.items()
        }

    def model(self, kind: str) -> ServedModel:
        """The live model of a kind; FAILED_PRECONDITION (with what to do) when there is none yet."""
        return self.holders[kind].model

    def refresh(self, kind: str | None = None) -> None:
        for name, holder in self.holders.items():
            if kind is None or name == kind:
                holder.refresh()

    def start(self) -> None:
        for holder in self.holders.values():
            holder.start()

    def stop(self) -> None:
        for holder in self.holders.values():
            holder.stop()
