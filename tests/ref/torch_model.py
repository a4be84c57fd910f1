#!/usr/bin/python3
"""Independent PyTorch reference for whole models: forward, every parameter gradient and
a 3-step Adam trajectory, with Keras's semantics written out in PyTorch.

Writes tests/fixtures/torch_model_{reg,cls}.h5, each holding:
  attribute spec     the attnsweep spec (JSON) of the model
  /x, /y             the batch (y float32 [B,T',C'] or int32 [B])
  /weights/layer_i/  initial weights in Keras shapes (attnsweep's weights layout)
  /grads/layer_i/    d(loss)/d(weight) at the initial weights, same names
  /loss              float64 [4]: the loss before each of 3 full-batch Adam steps, and after
  /weights_final/    weights after the 3 steps

Regenerate (Debian's python3-torch, python3-h5py):
  /usr/bin/python3 tests/ref/torch_model.py tests/fixtures
"""
import json
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
np.random.seed(1234)


def conv1d(x, kernel, bias, padding="same", dilation=1, act="linear", residual=False):
    """Keras Conv1D on (B, T, C): cross-correlation, 'same' pads floor(span/2) left."""
    k = kernel.shape[0]
    span = dilation * (k - 1)
    xt = x.permute(0, 2, 1)
    if padding == "same":
        xt = F.pad(xt, (span // 2, span - span // 2))
    y = F.conv1d(xt, kernel.permute(2, 1, 0), bias, dilation=dilation).permute(0, 2, 1)
    y = activation(y, act)
    return x + y if residual else y


def activation(y, act):
    return {"linear": lambda t: t, "relu": torch.relu, "tanh": torch.tanh,
            "sigmoid": torch.sigmoid}[act](y)


def mha(x, w):
    """keras.layers.MultiHeadAttention called as (x, x), no dropout."""
    q = torch.einsum("btc,chd->bthd", x, w["query_kernel"]) + w["query_bias"]
    k = torch.einsum("btc,chd->bthd", x, w["key_kernel"]) + w["key_bias"]
    v = torch.einsum("btc,chd->bthd", x, w["value_kernel"]) + w["value_bias"]
    q = q * (1.0 / math.sqrt(float(w["query_kernel"].shape[2])))
    scores = torch.einsum("bshd,bthd->bhts", k, q)
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.einsum("bhts,bshd->bthd", probs, v)
    return torch.einsum("bthd,hdo->bto", ctx, w["output_kernel"]) + w["output_bias"]


def layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-3) * gamma + beta


def glorot(shape):
    rf = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * rf, shape[-1] * rf
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-lim, lim)


def make_weights(spec, C):
    """Random (not zero) weights for every layer, tracking the channel count."""
    weights = []
    T_dummy = None
    for layer in spec["model"]:
        t = layer["type"]
        w = {}
        if t in ("conv1d", "residual_conv1d"):
            f = layer.get("filters", C)
            w["kernel"] = glorot((layer["kernel_size"], C, f))
            w["bias"] = 0.1 * torch.randn(f)
            C = f
        elif t == "self_attention":
            h, dk = layer["num_heads"], layer["key_dim"]
            dv = layer.get("value_dim", dk)
            o = layer.get("output_dim", C)
            for n, d in (("query", dk), ("key", dk), ("value", dv)):
                w[n + "_kernel"] = glorot((C, h, d))
                w[n + "_bias"] = 0.1 * torch.randn(h, d)
            w["output_kernel"] = glorot((h, dv, o))
            w["output_bias"] = 0.1 * torch.randn(o)
            C = o
        elif t == "dense":
            w["kernel"] = glorot((C, layer["units"]))
            w["bias"] = 0.1 * torch.randn(layer["units"])
            C = layer["units"]
        elif t == "layer_norm":
            w["gamma"] = 1.0 + 0.1 * torch.randn(C)
            w["beta"] = 0.1 * torch.randn(C)
        weights.append({k: v.float().requires_grad_(True) for k, v in w.items()})
    del T_dummy
    return weights


def forward(spec, weights, x):
    for layer, w in zip(spec["model"], weights):
        t = layer["type"]
        if t in ("conv1d", "residual_conv1d"):
            x = conv1d(x, w["kernel"], w["bias"], layer.get("padding", "same"),
                       layer.get("dilation", 1), layer.get("activation", "linear"),
                       residual=(t == "residual_conv1d"))
        elif t == "self_attention":
            x = mha(x, w)
        elif t == "dense":
            x = activation(x @ w["kernel"] + w["bias"], layer.get("activation", "linear"))
        elif t == "layer_norm":
            x = layer_norm(x, w["gamma"], w["beta"])
        elif t == "global_average_pooling1d":
            x = x.mean(1)
        elif t == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif t == "activation":
            x = activation(x, layer["activation"])
        else:
            raise ValueError(t)
    return x


def loss_fn(out, y, classification):
    if classification:
        return F.cross_entropy(out, y.long())
    return ((out - y) ** 2).mean()


def keras_adam(params, grads, state, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    with torch.no_grad():
        tf = torch.tensor(float(t), dtype=torch.float32)
        alpha = lr * torch.sqrt(1 - torch.tensor(b2) ** tf) / (1 - torch.tensor(b1) ** tf)
        for p, g in zip(params, grads):
            m, v = state.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            p -= m * alpha / (torch.sqrt(v) + eps)


def write_weights(f, group, spec, weights):
    for i, (layer, w) in enumerate(zip(spec["model"], weights)):
        g = f.create_group(f"{group}/layer_{i}")
        g.attrs["type"] = layer["type"]
        for name, val in w.items():
            g.create_dataset(name, data=val.detach().numpy().astype(np.float32))


def make_case(path, spec, x, y, classification):
    weights = make_weights(spec, x.shape[2])
    params = [p for w in weights for p in w.values()]
    with h5py.File(path, "w") as f:
        f.attrs["spec"] = json.dumps(spec)
        f.create_dataset("x", data=x.numpy().astype(np.float32))
        f.create_dataset("y", data=y.numpy().astype(np.int32 if classification else np.float32))
        write_weights(f, "weights", spec, weights)
        out = forward(spec, weights, x)
        loss = loss_fn(out, y, classification)
        grads = torch.autograd.grad(loss, params)
        gi = iter(grads)
        for i, w in enumerate(weights):
            g = f.require_group(f"grads/layer_{i}")
            for name in w:
                g.create_dataset(name, data=next(gi).numpy().astype(np.float32))
        f.create_dataset("output", data=out.detach().numpy().astype(np.float32))
        losses, state = [], {}
        for t in range(1, 4):
            out = forward(spec, weights, x)
            loss = loss_fn(out, y, classification)
            losses.append(loss.item())
            keras_adam(params, torch.autograd.grad(loss, params), state, t)
        losses.append(loss_fn(forward(spec, weights, x), y, classification).item())
        f.create_dataset("loss", data=np.array(losses, dtype=np.float64))
        write_weights(f, "weights_final", spec, weights)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    B, T, C = 5, 9, 2
    x = torch.randn(B, T, C)
    train = {"epochs": 3, "batch_size": B, "shuffle": False, "seed": 0,
             "optimizer": {"type": "adam", "learning_rate": 0.001}}
    reg = {"data": "unused.h5", "train": train, "model": [
        {"type": "conv1d", "filters": 6, "kernel_size": 4, "activation": "relu"},
        {"type": "self_attention", "num_heads": 2, "key_dim": 3, "value_dim": 5},
        {"type": "residual_conv1d", "filters": 6, "kernel_size": 3, "activation": "tanh",
         "dilation": 2},
        {"type": "layer_norm"},
        {"type": "dense", "units": 4, "activation": "sigmoid"},
        {"type": "conv1d", "filters": 1, "kernel_size": 3, "padding": "valid"}]}
    y = torch.randn(B, T - 2, 1)
    make_case(f"{out_dir}/torch_model_reg.h5", reg, x, y, False)
    cls = {"data": "unused.h5", "train": train, "model": [
        {"type": "conv1d", "filters": 4, "kernel_size": 2, "activation": "relu"},
        {"type": "self_attention", "num_heads": 3, "key_dim": 2, "output_dim": 5},
        {"type": "global_average_pooling1d"},
        {"type": "dense", "units": 3}]}
    labels = torch.tensor([0, 2, 1, 2, 0])
    make_case(f"{out_dir}/torch_model_cls.h5", cls, x, labels, True)


if __name__ == "__main__":
    main()
