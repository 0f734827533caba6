# Reference numbers for tests/test_sae.py, made with R 4.x and sae 1.3
# (Molina & Marhuenda 2015) and jsonlite:
#     Rscript tests/data/sae_reference.R > tests/data/sae_reference.json
# Cases:
#   milk_*   : R sae's milk data (43 areas; Arora & Lahiri 1997, You & Chapman
#              2006), model yi ~ as.factor(MajorArea), vardir = SD^2, as in
#              Molina & Marhuenda (2015), R Journal 7(1), section 4.
#   sim_*    : 60 simulated areas with two numeric covariates (set.seed(14)).
#   zero_*   : 30 simulated areas without area effects (sigma2_u estimated as 0).
#   null_milk_REML: the milk data with an intercept only (for the FH R2).
suppressPackageStartupMessages({library(sae); library(jsonlite)})
data(milk)

one <- function(formula, vardir, method, data) {
  res <- eval(substitute(mseFH(formula, vardir, method = method, data = data)))
  fit <- res$est$fit
  list(method = method,
       sigma2_u = fit$refvar,
       beta = fit$estcoef[, "beta"],
       beta_se = fit$estcoef[, "std.error"],
       iterations = fit$iterations,
       loglike = unname(fit$goodness["loglike"]),
       AIC = unname(fit$goodness["AIC"]),
       BIC = unname(fit$goodness["BIC"]),
       eblup = as.vector(res$est$eblup),
       mse = as.vector(res$mse))
}

set.seed(14)
m <- 60
x1 <- runif(m); x2 <- rnorm(m)
psi <- runif(m, 0.02, 0.2)
sim <- data.frame(x1 = x1, x2 = x2, psi = psi,
                  y = 1 + 2 * x1 - 0.5 * x2 + rnorm(m, sd = sqrt(0.1)) + rnorm(m, sd = sqrt(psi)))
m0 <- 30
z1 <- rnorm(m0); psi0 <- runif(m0, 0.5, 1.5)
zero <- data.frame(z1 = z1, psi0 = psi0, y0 = 0.3 * z1 + rnorm(m0, sd = sqrt(psi0) * 0.6))

cases <- list()
milk$var <- milk$SD^2
for (meth in c("REML", "ML", "FH")) {
  cases[[paste0("milk_", meth)]] <- c(one(yi ~ as.factor(MajorArea), var, meth, milk),
                                      list(data = "milk"))
  cases[[paste0("sim_", meth)]] <- c(one(y ~ x1 + x2, psi, meth, sim), list(data = "sim"))
  cases[[paste0("zero_", meth)]] <- c(one(y0 ~ z1, psi0, meth, zero), list(data = "zero"))
}
# intercept-only model: sigma2_u0 for the "FH R2" 1 - sigma2_u / sigma2_u0
null_milk <- one(yi ~ 1, var, "REML", milk)
out <- list(r_version = R.version.string, sae_version = as.character(packageVersion("sae")),
            data = list(milk = milk, sim = sim, zero = zero), cases = cases,
            null_milk_REML = null_milk)
cat(toJSON(out, digits = I(17), auto_unbox = TRUE, pretty = FALSE))
