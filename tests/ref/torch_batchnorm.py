#!/usr/bin/python3
"""torch_batchnorm.py: an independent PyTorch reference for the batch_normalization layer.

Writes tests/fixtures/torch_batchnorm.h5, read by tests/unit/test_batchnorm.c.

Regenerate (from the repository root; needs Debian's python3-torch, python3-h5py, numpy):
    /usr/bin/python3 tests/ref/torch_batchnorm.py [OUT.h5]
and commit the fixture. The output is deterministic (fixed seed).

Keras BatchNormalization(axis=-1, momentum, epsilon, center, scale) on channels-last
input x (B, T, C) (or (B, C): T = 1), computed in float64 from float32 inputs:
  training:  y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch mean and the
             BIASED batch variance over the B*T rows (torch F.batch_norm, training=True,
             on x permuted to (B, C, T));
             moving_mean' = moving_mean * momentum + mean * (1 - momentum), and the same
             for moving_variance with the biased variance (Keras; torch's own running_var
             would use the unbiased one, so the update is written out here);
             gradients of L = sum(y * R) by autograd w.r.t. x, gamma, beta.
  inference: y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
             (F.batch_norm, training=False).
Groups /case/<i>: attributes B, T, C, center, scale, momentum, epsilon; datasets x, R,
gamma, beta, moving_mean, moving_variance (before), y_train, dx, dgamma, dbeta,
moving_mean_after, moving_variance_after, y_infer. Attribute `count` on /case.
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as Fn

rng = np.random.default_rng(20261201)


def f32(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def case(B, T, C, center, scale, momentum, eps, shift):
    x = f32(B, T, C) * 2.0 + shift  # non-zero mean per batch
    R = f32(B, T, C)
    gamma = f32(C, lo=0.5, hi=1.5)
    beta = f32(C)
    mm = f32(C)
    mv = f32(C, lo=0.5, hi=2.0)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    gt = torch.tensor(gamma.astype(np.float64), requires_grad=True)
    bt = torch.tensor(beta.astype(np.float64), requires_grad=True)
    xc = xt.permute(0, 2, 1)  # (B, C, T)
    y = Fn.batch_norm(xc, None, None, gt if scale else None, bt if center else None,
                      training=True, momentum=0.0, eps=eps).permute(0, 2, 1)
    (y * torch.tensor(R.astype(np.float64))).sum().backward()
    flat = xt.detach().reshape(-1, C)
    mean = flat.mean(0)
    var = flat.var(0, unbiased=False)
    mm64 = torch.tensor(mm.astype(np.float64))
    mv64 = torch.tensor(mv.astype(np.float64))
    mm_after = mm64 * momentum + mean * (1 - momentum)
    mv_after = mv64 * momentum + var * (1 - momentum)
    yi = Fn.batch_norm(xc.detach(), mm64, mv64, gt.detach() if scale else None,
                       bt.detach() if center else None, training=False, eps=eps).permute(0, 2, 1)
    out = dict(x=x, R=R, gamma=gamma, beta=beta, moving_mean=mm, moving_variance=mv,
               y_train=y.detach().numpy(), dx=xt.grad.numpy(),
               dgamma=gt.grad.numpy() if scale else np.zeros(C),
               dbeta=bt.grad.numpy() if center else np.zeros(C),
               moving_mean_after=mm_after.numpy(), moving_variance_after=mv_after.numpy(),
               y_infer=yi.numpy())
    attrs = dict(B=B, T=T, C=C, center=int(center), scale=int(scale), momentum=momentum,
                 epsilon=eps)
    return attrs, out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_batchnorm.h5"
    cases = [case(4, 7, 3, True, True, 0.99, 1e-3, 0.5),
             case(3, 5, 6, False, True, 0.9, 1e-3, -1.0),
             case(5, 4, 2, True, False, 0.99, 1e-5, 2.0),
             case(2, 3, 4, False, False, 0.5, 1e-3, 0.0),
             case(6, 1, 5, True, True, 0.99, 1e-3, 1.0)]  # rank 2 input (T = 1)
    with h5py.File(path, "w") as f:
        g = f.create_group("case")
        g.attrs["count"] = len(cases)
        for i, (attrs, arrays) in enumerate(cases):
            c = g.create_group(str(i))
            for k, v in attrs.items():
                c.attrs[k] = v
            for k, v in arrays.items():
                c.create_dataset(k, data=np.asarray(v, dtype=np.float64))
    print("wrote", path)


if __name__ == "__main__":
    main()
