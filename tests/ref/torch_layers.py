#!/usr/bin/python3
"""torch_layers.py: independent PyTorch references for the layers of src/layers/.

Writes tests/fixtures/torch_layers.h5, read by tests/unit/test_layers_torch.c.

Regenerate (from the repository root; needs python3-torch, python3-h5py, numpy):
    /usr/bin/python3 tests/ref/torch_layers.py [OUT.h5]
and commit the fixture. The output is deterministic (fixed seeds).

Every case reproduces Keras semantics in PyTorch, computed in float64 from float32
inputs, and stores inputs, weights (Keras layouts), outputs and the gradients of
L = sum(out * R) by autograd:
  conv1d       Conv1D cross-correlation, stride 1, dilation, channels-last; kernel [K, C, F];
               'same' pads floor(dil*(K-1)/2) zeros left and the rest right (TF); torch
               conv1d on (B, C, T) with explicit asymmetric F.pad.
  resconv      x + act(conv_same(x)).
  attention    keras.layers.MultiHeadAttention(num_heads, key_dim, value_dim, output_shape)
               called as mha(x, x), written with Keras's einsum equations; probabilities
               (B, H, T, T) stored too.
  dense        Dense on the last axis; layer_norm (eps 1e-3, biased variance); gap1d.
  mse / sce    losses summed over samples (mse: per-sample mean), gradients times `scale`.
Groups: /<kind>/<i> with integer attributes for the dimensions (act as the as_act code:
0 linear, 1 relu, 2 tanh, 3 sigmoid) and attribute `count` on /<kind>.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as Fn

ACTS = {"linear": 0, "relu": 1, "tanh": 2, "sigmoid": 3}
rng = np.random.default_rng(20240611)


def rand(*shape, scale=1.0):
    return (rng.uniform(-1.0, 1.0, size=shape) * scale).astype(np.float32)


def t64(a):
    return torch.tensor(a.astype(np.float64), requires_grad=True)


def act(z, name):
    if name == "relu":
        return torch.relu(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    return z


def store(g, attrs, arrays):
    for k, v in attrs.items():
        g.attrs[k] = v
    for k, v in arrays.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().numpy()
        v = np.asarray(v)
        g.create_dataset(k, data=v.astype(np.int32 if v.dtype.kind in "iu" else np.float32),
                         track_times=False)


def backprop(out, tensors):
    """Gradients of sum(out * R) for a random R; returns R (float32) and the grads."""
    R = rand(*out.shape)
    (out * torch.tensor(R.astype(np.float64))).sum().backward()
    return R, [t.grad for t in tensors]


def conv_keras(x, w, b, dil, pad_left, pad_right):
    """x (B, T, C), w [K, C, F] -> (B, To, F), Keras Conv1D without activation."""
    xt = Fn.pad(x.permute(0, 2, 1), (pad_left, pad_right))
    y = Fn.conv1d(xt, w.permute(2, 1, 0), b, dilation=dil)
    return y.permute(0, 2, 1)


def conv_cases(f):
    cases = [  # B, T, C, F, K, dil, padding, act
        (2, 9, 3, 4, 3, 1, "same", "relu"),
        (2, 10, 3, 5, 4, 2, "same", "tanh"),
        (3, 11, 4, 2, 5, 1, "valid", "sigmoid"),
        (1, 8, 2, 3, 2, 1, "same", "linear"),
        (2, 7, 3, 3, 1, 1, "valid", "relu"),
        (2, 12, 3, 4, 3, 3, "valid", "tanh"),
        (1, 6, 5, 6, 5, 2, "same", "sigmoid"),
    ]
    grp = f.create_group("conv")
    grp.attrs["count"] = len(cases)
    for i, (B, T, C, F, K, dil, padding, a) in enumerate(cases):
        total = dil * (K - 1)
        pl, pr = (total // 2, total - total // 2) if padding == "same" else (0, 0)
        To = T if padding == "same" else T - total
        x, w, b = rand(B, T, C), rand(K, C, F, scale=0.5), rand(F, scale=0.3)
        xt, wt, bt = t64(x), t64(w), t64(b)
        out = act(conv_keras(xt, wt, bt, dil, pl, pr), a)
        assert out.shape == (B, To, F)
        R, (dx, dw, db) = backprop(out, [xt, wt, bt])
        store(grp.create_group(str(i)),
              dict(B=B, T=T, C=C, F=F, K=K, dil=dil, pad_left=pl, To=To, act=ACTS[a]),
              dict(inp=x, w=w, b=b, R=R, out=out, dinp=dx, dw=dw, db=db))


def resconv_cases(f):
    cases = [(2, 8, 4, 3, 2, "relu"), (1, 6, 3, 2, 1, "tanh"), (2, 5, 2, 4, 1, "sigmoid")]
    grp = f.create_group("resconv")
    grp.attrs["count"] = len(cases)
    for i, (B, T, C, K, dil, a) in enumerate(cases):
        total = dil * (K - 1)
        x, w, b = rand(B, T, C), rand(K, C, C, scale=0.5), rand(C, scale=0.3)
        xt, wt, bt = t64(x), t64(w), t64(b)
        out = xt + act(conv_keras(xt, wt, bt, dil, total // 2, total - total // 2), a)
        R, (dx, dw, db) = backprop(out, [xt, wt, bt])
        store(grp.create_group(str(i)), dict(B=B, T=T, C=C, K=K, dil=dil, act=ACTS[a]),
              dict(inp=x, w=w, b=b, R=R, out=out, dinp=dx, dw=dw, db=db))


def attention_cases(f):
    cases = [  # B, T, C, H, Dk, Dv, O
        (2, 7, 6, 2, 3, 5, 4),
        (1, 5, 4, 1, 4, 4, 4),
        (2, 1, 3, 3, 2, 2, 5),
        (2, 10, 8, 4, 8, 6, 8),
    ]
    names = ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"]
    grp = f.create_group("attention")
    grp.attrs["count"] = len(cases)
    for i, (B, T, C, H, Dk, Dv, O) in enumerate(cases):
        x = rand(B, T, C)
        p = dict(wq=rand(C, H, Dk, scale=0.6), bq=rand(H, Dk, scale=0.3),
                 wk=rand(C, H, Dk, scale=0.6), bk=rand(H, Dk, scale=0.3),
                 wv=rand(C, H, Dv, scale=0.6), bv=rand(H, Dv, scale=0.3),
                 wo=rand(H, Dv, O, scale=0.6), bo=rand(O, scale=0.3))
        xt = t64(x)
        pt = {k: t64(v) for k, v in p.items()}
        # Keras MultiHeadAttention._build_from_signature / _compute_attention, rank-3 input
        q = torch.einsum("abc,cde->abde", xt, pt["wq"]) + pt["bq"]
        k = torch.einsum("abc,cde->abde", xt, pt["wk"]) + pt["bk"]
        v = torch.einsum("abc,cde->abde", xt, pt["wv"]) + pt["bv"]
        q = q * (1.0 / np.sqrt(float(Dk)))
        scores = torch.einsum("aecd,abcd->acbe", k, q)  # (B, H, Tq, Tk)
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.einsum("acbe,aecd->abcd", probs, v)  # (B, Tq, H, Dv)
        out = torch.einsum("abcd,cde->abe", ctx, pt["wo"]) + pt["bo"]
        R, grads = backprop(out, [xt] + [pt[n] for n in names])
        arrays = dict(inp=x, R=R, out=out, probs=probs, dinp=grads[0])
        arrays.update(p)
        arrays.update({"d" + n: g for n, g in zip(names, grads[1:])})
        store(grp.create_group(str(i)), dict(B=B, T=T, C=C, H=H, Dk=Dk, Dv=Dv, O=O), arrays)


def dense_norm_gap_cases(f):
    dense = [(12, 5, 3, "relu"), (4, 6, 2, "sigmoid"), (6, 3, 4, "tanh"), (5, 4, 4, "linear")]
    grp = f.create_group("dense")
    grp.attrs["count"] = len(dense)
    for i, (N, C, U, a) in enumerate(dense):
        x, w, b = rand(N, C), rand(C, U, scale=0.6), rand(U, scale=0.3)
        xt, wt, bt = t64(x), t64(w), t64(b)
        out = act(xt @ wt + bt, a)
        R, (dx, dw, db) = backprop(out, [xt, wt, bt])
        store(grp.create_group(str(i)), dict(N=N, C=C, U=U, act=ACTS[a]),
              dict(inp=x, w=w, b=b, R=R, out=out, dinp=dx, dw=dw, db=db))

    norms = [(8, 6), (4, 7), (3, 2)]
    grp = f.create_group("layer_norm")
    grp.attrs["count"] = len(norms)
    for i, (N, C) in enumerate(norms):
        x, gam, bet = rand(N, C, scale=2.0), rand(C) + 1.0, rand(C)
        xt, gt, bt = t64(x), t64(gam), t64(bet)
        mean = xt.mean(dim=-1, keepdim=True)
        var = ((xt - mean) ** 2).mean(dim=-1, keepdim=True)
        out = (xt - mean) / torch.sqrt(var + 1e-3) * gt + bt
        R, (dx, dg, db) = backprop(out, [xt, gt, bt])
        store(grp.create_group(str(i)), dict(N=N, C=C),
              dict(inp=x, gamma=gam, beta=bet, R=R, out=out, dinp=dx, dgamma=dg, dbeta=db))

    grp = f.create_group("gap")
    grp.attrs["count"] = 1
    B, T, C = 2, 6, 5
    x = rand(B, T, C)
    xt = t64(x)
    out = xt.mean(dim=1)
    R, (dx,) = backprop(out, [xt])
    store(grp.create_group("0"), dict(B=B, T=T, C=C), dict(inp=x, R=R, out=out, dinp=dx))


def loss_cases(f):
    B, m, scale = 4, 6, 0.125
    pred, y = rand(B, m), rand(B, m)
    pt = t64(pred)
    loss = ((pt - torch.tensor(y.astype(np.float64))) ** 2).mean(dim=1).sum()
    loss.backward()
    g = f.create_group("mse")
    store(g, dict(B=B, m=m, scale=scale), dict(pred=pred, y=y, dpred=pt.grad * scale))
    g.create_dataset("loss", data=np.float64(loss.item()), track_times=False)

    B, K, scale = 6, 4, 1.0 / 6.0
    logits = rand(B, K, scale=3.0)
    labels = rng.integers(0, K, size=B).astype(np.int32)
    zt = t64(logits)
    loss = Fn.cross_entropy(zt, torch.tensor(labels.astype(np.int64)), reduction="sum")
    loss.backward()
    correct = int((logits.argmax(axis=1) == labels).sum())
    g = f.create_group("sce")
    store(g, dict(B=B, K=K, scale=scale, correct=correct),
          dict(logits=logits, labels=labels, dlogits=zt.grad * scale))
    g.create_dataset("loss", data=np.float64(loss.item()), track_times=False)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures",
                                                             "torch_layers.h5")
    torch.manual_seed(0)
    with h5py.File(out, "w") as f:
        f.attrs["generator"] = "tests/ref/torch_layers.py (torch %s)" % torch.__version__
        conv_cases(f)
        resconv_cases(f)
        attention_cases(f)
        dense_norm_gap_cases(f)
        loss_cases(f)
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))


if __name__ == "__main__":
    main()
