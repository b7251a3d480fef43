# Fit a polynomial and a sine-wave LSTM by L-BFGS with a strong-Wolfe line search (the official
# regression and time-sequence-prediction examples' idiom), from deterministic data and start.
import torch
import torch.nn as nn
import torch.optim as optim

torch.set_default_dtype(torch.float64)
POLY_DEGREE = 4
W_target = torch.tensor([[0.5], [-1.2], [0.3], [0.8]])
b_target = torch.tensor([0.25])


def make_features(x):
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    return x.mm(W_target) + b_target.item()


x = torch.linspace(-1, 1, 64)
batch_x, batch_y = make_features(x), f(make_features(x)) + 0.01 * torch.sin(17 * x).unsqueeze(1)
fc = nn.Linear(W_target.size(0), 1)
with torch.no_grad():
    fc.weight.zero_()
    fc.bias.zero_()
optimizer = optim.LBFGS(fc.parameters(), lr=1, max_iter=50, line_search_fn="strong_wolfe")


def closure():
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(fc(batch_x), batch_y)
    loss.backward()
    return loss


for _ in range(2):
    optimizer.step(closure)
print("Loss: {:.6e}".format(closure().item()))
print("==> Learned function:\ty = " + " ".join(f"{w:+.4f} x^{i + 1}" for i, w in enumerate(fc.weight.view(-1).tolist()))
      + f" {fc.bias.item():+.4f}")


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 8)
        self.linear = nn.Linear(8, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 8)
        c_t = torch.zeros(input.size(0), 8)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            outputs += [self.linear(h_t)]
        for _ in range(future):
            h_t, c_t = self.lstm1(outputs[-1], (h_t, c_t))
            outputs += [self.linear(h_t)]
        return torch.cat(outputs, dim=1)


t = torch.arange(0, 40) * 0.2
data = torch.sin(t.unsqueeze(0) + torch.arange(4).unsqueeze(1) * 0.5)
input, target = data[:, :-1], data[:, 1:]
seq = Sequence()
with torch.no_grad():   # a deterministic start: every weight from a fixed formula
    for i, p in enumerate(seq.parameters()):
        p.copy_(0.3 * torch.sin(torch.arange(p.numel()) * 0.7 + i).view_as(p))
criterion = nn.MSELoss()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=8)
for i in range(3):
    def closure():
        optimizer.zero_grad()
        loss = criterion(seq(input), target)
        loss.backward()
        return loss
    optimizer.step(closure)
    print("STEP:", i, "loss:", closure().item())
with torch.no_grad():
    pred = seq(input, future=5)
    print("test loss:", criterion(pred[:, :-5], target).item())
print(f"final: {closure().item():.9e}")
