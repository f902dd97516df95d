"""A standard Open Inference Protocol client (tritonclient) calling the predictor, run as a process
of its own: tritonclient registers the protocol's messages in protobuf's default pool, as the
predictor's generated code does, and one process cannot hold both.

    python tests/e2e/oip_client.py ADDRESS status            -> server and per-model readiness, metadata
    python tests/e2e/oip_client.py ADDRESS infer MODEL < REQ -> outputs, or the error's status and message

REQ is JSON: {"inputs": {name: {"datatype": "FP64" | "BYTES" | ..., "data": [...]}}, "outputs":
[names] (optional), "parameters": {...} (optional), "version": "..." (optional)}. Prints JSON.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

MODELS = ("waste", "anomaly", "forecast")
DTYPES = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "BYTES": np.object_}


def status(client: grpcclient.InferenceServerClient) -> dict:
    out = {"live": client.is_server_live(), "ready": client.is_server_ready(), "models": {}}
    out["server"] = client.get_server_metadata(as_json=True)
    for name in MODELS:
        model = {"ready": client.is_model_ready(name)}
        model["metadata"] = client.get_model_metadata(name, as_json=True)
        out["models"][name] = model
    try:
        client.get_model_metadata("no-such-model")
    except InferenceServerException as exc:
        out["unknown_model"] = {"status": exc.status(), "message": exc.message()}
    return out


def infer(client: grpcclient.InferenceServerClient, model: str, req: dict) -> dict:
    inputs = []
    for name, spec in req["inputs"].items():
        data = spec["data"]
        if spec["datatype"] == "BYTES":
            array = np.array([v.encode() for v in data], dtype=np.object_)
        else:
            array = np.array(data, dtype=DTYPES[spec["datatype"]])
        tensor = grpcclient.InferInput(name, [len(data)], spec["datatype"])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    outputs = [grpcclient.InferRequestedOutput(n) for n in req.get("outputs", [])] or None
    try:
        result = client.infer(
            model,
            inputs,
            model_version=req.get("version", ""),
            outputs=outputs,
            request_id="e2e-1",
            parameters=req.get("parameters"),
        )
    except InferenceServerException as exc:
        return {"error": {"status": exc.status(), "message": exc.message()}}
    response = result.get_response(as_json=True)
    names = [o["name"] for o in response["outputs"]]
    return {
        "model_version": response["model_version"],
        "id": response.get("id", ""),
        "outputs": {n: result.as_numpy(n).tolist() for n in names},
    }


def main(argv: list[str]) -> int:
    client = grpcclient.InferenceServerClient(url=argv[1])
    if argv[2] == "status":
        print(json.dumps(status(client)))
    else:
        print(json.dumps(infer(client, argv[3], json.loads(sys.stdin.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
