"""Predictor bootstrap: `cloudwaste serve predictor`."""

from __future__ import annotations

from cloudwaste.core import logs
from cloudwaste.core.db import Database
from cloudwaste.core.server import App, serve
from cloudwaste.predictor.inference import InferenceServicer
from cloudwaste.predictor.servicer import PredictorServicer
from cloudwaste.predictor.serving import ServedModels
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.shadow import ShadowRecorder
from cloudwaste.predictor.store import PredictorStore
from cloudwaste.predictor.training import Trainer
from cloudwaste.predictor.v1 import (
    open_inference_pb2,
    open_inference_pb2_grpc,
    predictor_service_pb2,
    predictor_service_pb2_grpc,
)
from cloudwaste.predictor.worker import LocalTrainingWorker


def build_app(settings: PredictorSettings) -> App:
    db = Database(settings.database_url)
    store = PredictorStore(db)
    models = ServedModels(
        store.active_model,
        store.active_name,
        settings.model_poll_seconds,
        store.shadow_model,
        store.shadow_name,
        store.training_run_counts,
    )
    trainer = Trainer(store, models, settings)
    recorder = ShadowRecorder(store.save_shadow)
    servicer = PredictorServicer(
        store, models, trainer, max_streams=max(1, settings.max_workers // 2), recorder=recorder
    )
    on_start, on_stop = [models.start, recorder.start], [models.stop, recorder.stop]
    if settings.training_worker == "process":  # training never runs on the serving threads
        worker = LocalTrainingWorker(settings)
        on_start.append(worker.start)
        on_stop.insert(0, lambda: worker.stop(settings.shutdown_grace_seconds))
    # the Open Inference Protocol v2 over the same models, for standard clients (tritonclient)
    inference = InferenceServicer(servicer, models, _version())
    name = predictor_service_pb2.DESCRIPTOR.services_by_name["PredictorService"].full_name
    oip_name = open_inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

    def register(server) -> None:
        predictor_service_pb2_grpc.add_PredictorServiceServicer_to_server(servicer, server)
        open_inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(inference, server)

    return App(
        name="predictor",
        service_names=[name, oip_name],
        register=register,
        on_start=on_start,
        on_stop=[*on_stop, db.dispose],
        database=db,
        # "models/waste" etc.: SERVING while a model of the kind is loaded
        readiness={f"models/{kind}": holder_ready(holder) for kind, holder in models.holders.items()},
    )


def holder_ready(holder):
    return lambda: holder.ready


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudwaste")
    except PackageNotFoundError:
        return "unknown"


def main() -> None:
    settings = PredictorSettings.from_env()
    logs.configure("predictor", settings.log_level)
    serve(settings, build_app(settings))
