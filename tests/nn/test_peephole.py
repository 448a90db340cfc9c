"""The official cell (PeepholeLSTM) and the RNNBlock options that build the paper's units."""
import pytest
import torch

from srnn_pyg.nn.peephole import PeepholeLSTM, clip_grad
from srnn_pyg.nn.rnn_block import RNNBlock


def _step(cell: PeepholeLSTM, x, h, c):
    """One step written out gate by gate (layer 0)."""
    H = cell.hidden_size
    g = cell.weight_ih_l0 @ x + cell.bias_l0 + cell.weight_hh_l0 @ h
    v_i, v_f, v_o = cell.weight_peep_l0
    i = torch.sigmoid(g[:H] + v_i * c)
    f = torch.sigmoid(g[H:2 * H] + v_f * c)
    c = f * c + i * torch.tanh(g[2 * H:3 * H])
    o = torch.sigmoid(g[3 * H:] + v_o * c)
    return o * torch.tanh(c), c


def test_peephole_matches_a_step_by_step_loop():
    torch.manual_seed(0)
    cell = PeepholeLSTM(3, 5).double()
    x = torch.randn(4, 6, 3, dtype=torch.double)
    out, (h, c) = cell(x)
    for r in range(4):
        hr, cr = torch.zeros(5, dtype=torch.double), torch.zeros(5, dtype=torch.double)
        for t in range(6):
            hr, cr = _step(cell, x[r, t], hr, cr)
            assert torch.allclose(out[r, t], hr, atol=1e-12)
        assert torch.allclose(h[0, r], hr, atol=1e-12) and torch.allclose(c[0, r], cr, atol=1e-12)


def test_peepholes_matter_and_zero_peepholes_give_a_plain_lstm():
    torch.manual_seed(1)
    cell = PeepholeLSTM(3, 4).double()
    lstm = torch.nn.LSTM(3, 4, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(cell.weight_ih_l0)
        lstm.weight_hh_l0.copy_(cell.weight_hh_l0)
        lstm.bias_ih_l0.copy_(cell.bias_l0)
        lstm.bias_hh_l0.zero_()
    x = torch.randn(2, 5, 3, dtype=torch.double)
    assert not torch.allclose(cell(x)[0], lstm(x)[0], atol=1e-6)
    with torch.no_grad():
        cell.weight_peep_l0.zero_()
    assert torch.allclose(cell(x)[0], lstm(x)[0], atol=1e-12)


def test_lengths_freeze_the_state_and_zero_the_output():
    torch.manual_seed(2)
    cell = PeepholeLSTM(2, 3)
    x = torch.randn(3, 5, 2)
    lengths = torch.tensor([5, 2, 4])
    out, (h, c) = cell(x, lengths=lengths)
    for r, n in enumerate(lengths.tolist()):
        ref, (hr, cr) = cell(x[r:r + 1, :n])
        assert torch.allclose(out[r, :n], ref[0], atol=1e-6)
        assert torch.all(out[r, n:] == 0)
        assert torch.allclose(h[0, r], hr[0, 0], atol=1e-6) and torch.allclose(c[0, r], cr[0, 0], atol=1e-6)


def test_state_carries_over_chunks():
    torch.manual_seed(3)
    cell = PeepholeLSTM(2, 3, num_layers=2)
    x = torch.randn(2, 7, 2)
    whole, st = cell(x)
    a, s1 = cell(x[:, :3])
    b, s2 = cell(x[:, 3:], s1)
    assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-6)
    assert all(torch.allclose(u, v, atol=1e-6) for u, v in zip(s2, st))


def test_clip_grad_clamps_only_the_backward_pass():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = clip_grad(x, 0.5)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([10.0, -0.2, -7.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.5, -0.2, -0.5]))


def test_state_gradient_clip_changes_gradients_only_when_it_binds():
    torch.manual_seed(4)
    x = torch.randn(2, 8, 3)

    def grads(clip):
        torch.manual_seed(5)
        cell = PeepholeLSTM(3, 4, grad_clip=clip)
        out, _ = cell(x)
        (out * 50.0).sum().backward()
        return torch.cat([p.grad.flatten() for p in cell.parameters()])

    free = grads(None)
    assert torch.allclose(grads(1e9), free)                 # never binds: identical
    assert not torch.allclose(grads(1e-3), free, atol=1e-4)  # binds: differs


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "25"])
def test_bad_grad_clip_is_named(bad):
    with pytest.raises(ValueError, match="grad_clip"):
        PeepholeLSTM(2, 3, grad_clip=bad)


def test_block_options_build_the_official_units():
    torch.manual_seed(6)
    edge = RNNBlock(4, 5, pre=(6, 7), cell="peephole", fused=True, pre_last_linear=True, init="uniform")
    x = torch.randn(3, 4, 4)
    y, h, st = edge(x)
    assert edge.channels == edge.rnn_channels == 5 + 7 and y.shape == (3, 4, 12)
    z = torch.relu(edge.pre[0](x))
    z = edge.pre[1](z)                                   # linear: no ReLU on the last encoder layer
    assert torch.allclose(y[..., 5:], z, atol=1e-6)      # fused: [h, the LSTM's input]
    assert (z < 0).any()                                 # it would not match if the layer were ReLU
    assert torch.allclose(y[..., :5], edge.lstm(z)[0], atol=1e-6)
    for name, p in edge.named_parameters():
        if "bias" in name:
            assert torch.all(p == 0), name
        else:
            assert p.abs().max() <= 0.05, name
    temporal = RNNBlock(4, 5, pre=(6, 7), cell=None, pre_last_linear=True)
    y, h, st = temporal(x)
    assert st is None and not temporal.stateful and y.shape == (3, 4, 7) and torch.equal(y, h)


def test_block_refuses_contradictory_options():
    with pytest.raises(ValueError, match="cell"):
        RNNBlock(2, 3, cell="rnn")
    with pytest.raises(ValueError, match="fused"):
        RNNBlock(2, 3, cell=None, fused=True)
    with pytest.raises(ValueError, match="grad_clip"):
        RNNBlock(2, 3, cell="lstm", grad_clip=25.0)
    with pytest.raises(ValueError, match="init"):
        RNNBlock(2, 3, init="xavier")


def test_default_block_is_unchanged():
    """The improved model's block: every encoder layer ReLU, PyTorch's LSTM, output h."""
    torch.manual_seed(7)
    block = RNNBlock(3, 4, pre=(5,))
    assert isinstance(block.lstm, torch.nn.LSTM) and block.channels == 4
    x = torch.randn(2, 3, 3)
    y, h, _ = block(x)
    assert torch.allclose(y, block.lstm(torch.relu(block.pre[0](x)))[0], atol=1e-6)


@pytest.mark.parametrize("truncate", [None, 2])
@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4, 1]])
@pytest.mark.parametrize("layers,skip", [(1, False), (2, True), (2, False)])
def test_hand_written_backward_equals_autograd(clip, lengths, layers, skip, truncate):
    """The sequence loop with its own backward pass (``fast``) and autograd through every step give the
    same outputs, states and gradients (parameters, inputs, initial state), clip, lengths and Theano's
    truncation included."""
    torch.manual_seed(8)
    cell = PeepholeLSTM(3, 4, num_layers=layers, grad_clip=clip, skip=skip, truncate_gradient=truncate).double()
    x = torch.randn(4, 5, 3, dtype=torch.double, requires_grad=True)
    st = tuple(torch.randn(layers, 4, 4, dtype=torch.double, requires_grad=True) for _ in range(2))
    lens = None if lengths is None else torch.tensor(lengths)
    got = []
    for fast in (True, False):
        cell.fast = fast
        for p in [*cell.parameters(), x, *st]:
            p.grad = None
        out, (h, c) = cell(x, st, lens)
        (out.sin().sum() * 30 + h.pow(2).sum() + c.sum()).backward()
        got.append([out, h, c] + [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                  for p in [*cell.parameters(), x, *st]])
    for a, b in zip(*got):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("layers,skip", [(1, False), (2, True)])
@pytest.mark.parametrize("fast", [True, False])
def test_truncate_gradient_is_theanos_scan_truncation(layers, skip, fast):
    """truncate_gradient=K back-propagates through the last K steps only: the same gradients as running the
    first T - K steps as constants (no gradient) and the last K from their final state, Theano's
    scan(truncate_gradient=K); the forward pass is unchanged, and K >= T changes nothing."""
    torch.manual_seed(3)
    T, K = 7, 3
    cell = PeepholeLSTM(3, 4, num_layers=layers, grad_clip=0.5, skip=skip).double()
    cell.fast = fast
    x = torch.randn(2, T, 3, dtype=torch.double, requires_grad=True)
    w = torch.randn(2, T, cell.output_size, dtype=torch.double)

    def grads(out):
        return torch.autograd.grad((out * w).sum(), [*cell.parameters(), x], allow_unused=True)

    cell.truncate_gradient = K
    cut_out, _ = cell(x)
    cut = grads(cut_out)
    cell.truncate_gradient = None
    with torch.no_grad():
        early, state = cell(x[:, :T - K])
    late, _ = cell(x[:, T - K:], state)
    want = grads(torch.cat([early, late], dim=1))
    assert torch.allclose(cut_out, torch.cat([early, late], dim=1), atol=1e-12)
    for a, b in zip(cut, want):
        assert torch.allclose(a, torch.zeros_like(a) if b is None else b, atol=1e-12)
    assert bool((cut[-1][:, :T - K] == 0).all())                   # the early inputs get nothing
    full = grads(cell(x)[0])
    cell.truncate_gradient = T
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads(cell(x)[0]), full))
    assert not torch.allclose(cut[0], full[0])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_bad_truncate_gradient_is_named(bad):
    with pytest.raises(ValueError, match="'truncate_gradient' must be a positive int or None"):
        PeepholeLSTM(3, 4, truncate_gradient=bad)


@pytest.mark.parametrize("fast", [True, False])
def test_truncation_of_rows_with_lengths_counts_their_own_last_steps(fast):
    """With lengths (rows that end early, as edges that appear late are laid out), each row back-propagates
    through its own last K live steps: the same gradients as running every row alone, unpadded."""
    torch.manual_seed(5)
    T, K = 8, 3
    cell = PeepholeLSTM(3, 4, grad_clip=0.5).double()
    cell.fast = fast
    x = torch.randn(4, T, 3, dtype=torch.double)
    lengths = [8, 5, 2, 6]
    w = torch.randn(4, T, 4, dtype=torch.double)
    cell.truncate_gradient = K
    out, _ = cell(x, lengths=torch.tensor(lengths))
    got = torch.autograd.grad((out * w).sum(), list(cell.parameters()))
    want = [torch.zeros_like(p) for p in cell.parameters()]
    for r, n in enumerate(lengths):
        alone, _ = cell(x[r:r + 1, :n])
        for acc, g in zip(want, torch.autograd.grad((alone * w[r:r + 1, :n]).sum(), list(cell.parameters()))):
            acc += g
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-12)
