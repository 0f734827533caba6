# Reference numbers for tests/test_replicate_r.py, from R survey 4.1.1.
# Run from the repository root:  Rscript tests/data/r_replicate.R > tests/data/r_replicate.json
suppressMessages({library(survey); library(jsonlite)})
data(api)
out <- list()
num <- function(x) as.numeric(unclass(x))

## BRR and Fay: 100 strata of two schools, rows in a shuffled order; strata labelled 1..100
## (R sorts them as text: "1", "10", "100", "11", ...).
strat <- apistrat[order(apistrat$stype, apistrat$snum), ]
strat$pair <- rep(1:100, each = 2)
set.seed(13)
perm <- sample(nrow(strat))
strat <- strat[perm, ]
dpair <- svydesign(id = ~1, strata = ~pair, weights = ~pw, data = strat)
## three strata of two half-samples (schools by snum parity)
apistrat$half <- ifelse(apistrat$snum %% 2 == 0, "even", "odd")
d3 <- svydesign(id = ~half, strata = ~stype, weights = ~pw, data = apistrat, nest = TRUE)
for (rho in c(0, 0.3)) {
  type <- if (rho == 0) "BRR" else "Fay"
  for (nm in c("pair", "three")) {
    d <- if (nm == "pair") dpair else d3
    r <- as.svrepdesign(d, type = type, fay.rho = rho)
    mult <- as.matrix(weights(r, "replication"))
    rat <- svyratio(~api.stu, ~enroll, r)
    m <- svymean(~api00, r)
    q <- svyquantile(~api00, r, 0.5, ci = TRUE)
    bym <- svyby(~api.stu, ~stype, r, svyratio, denominator = ~enroll)
    out[[paste0(tolower(type), "_", nm)]] <- list(
      up = apply(mult > 1, 1, function(z) paste(as.integer(z), collapse = "")),
      n_replicates = ncol(mult), scale = r$scale, degf = degf(r),
      ratio = num(coef(rat)), ratio_se = num(SE(rat)), mean_se = num(SE(m)),
      median = num(q[[1]][1, 1]), median_se = num(SE(q)),
      by_ratio = num(coef(bym)), by_ratio_se = num(SE(bym)))
  }
}
out$perm <- perm

## Bootstrap with the fpc: 15 of 30 districts sampled (fraction 1/2), 5000 replicates.
clus <- apiclus1
clus$N30 <- 30
dfpc <- svydesign(id = ~dnum, fpc = ~N30, data = clus)
set.seed(2013)
rb <- as.svrepdesign(dfpc, type = "bootstrap", replicates = 5000)
rb0 <- as.svrepdesign(svydesign(id = ~dnum, weights = ~I(rep(2, nrow(clus))), data = clus),
                      type = "bootstrap", replicates = 5000)
mult <- as.matrix(weights(rb, "replication"))[!duplicated(clus$dnum), ]
out$boot_fpc <- list(scale = rb$scale, total_se = num(SE(svytotal(~enroll, rb))),
                     mean_se = num(SE(svymean(~api00, rb))),
                     total_se_nofpc = num(SE(svytotal(~enroll, rb0))),
                     taylor_total_se = num(SE(svytotal(~enroll, dfpc))),
                     mult_var = mean(apply(mult, 1, var)), mult_max = max(mult),
                     col_sums = unique(colSums(mult)))
set.seed(2014)
strat2 <- apistrat
rsb <- as.svrepdesign(svydesign(id = ~1, strata = ~stype, weights = ~pw, data = strat2),
                      type = "subbootstrap", replicates = 5000)
out$subboot <- list(scale = rsb$scale, total_se = num(SE(svytotal(~enroll, rsb))),
                    mult_values = sort(unique(round(as.vector(as.matrix(weights(rsb, "replication"))), 10))))

## Transformed intervals on replicate designs.
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
rclus1 <- as.svrepdesign(dclus1)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
rstrat <- as.svrepdesign(dstrat)
ci <- list()
for (meth in c("logit", "xlogit", "mean", "beta", "asin")) {
  p <- svyciprop(~I(sch.wide == "Yes"), rclus1, method = meth)
  ci[[paste0("rclus1_", meth)]] <- c(num(coef(p)), num(SE(p)), num(attr(p, "ci")))
  b <- svyby(~I(both == "Yes"), ~stype, rstrat, svyciprop, method = meth, vartype = c("se", "ci"))
  ci[[paste0("rstrat_by_", meth)]] <- c(num(coef(b)), num(SE(b)), num(b$ci_l), num(b$ci_u))
}
out$ci <- ci
out$degf <- list(rclus1 = degf(rclus1), rstrat = degf(rstrat))

## lonely_psu = "average" inside domains.
options(survey.lonely.psu = "average")
dlonely <- svydesign(id = ~1, strata = ~dnum, weights = ~pw, data = apiclus1)
bl <- svyby(~api00, ~stype, dlonely, svymean)
bt <- svyby(~enroll, ~stype, dlonely, svytotal)
out$lonely_average <- list(mean = num(coef(bl)), mean_se = num(SE(bl)), total_se = num(SE(bt)),
                           all_se = num(SE(svymean(~api00, dlonely))))
options(survey.lonely.psu = "fail")

## Quantile df when whole PSUs have no value (na.rm): R drops them.
cl2 <- apiclus2
cl2$y <- cl2$api00
cl2$y[cl2$dnum %in% sort(unique(cl2$dnum))[1:2]] <- NA
dcl2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = cl2)
q <- svyquantile(~y, dcl2, c(0.25, 0.5), ci = TRUE, na.rm = TRUE)
out$quantile_na <- list(q = num(q[[1]][, 1]), lo = num(q[[1]][, 2]), hi = num(q[[1]][, 3]), se = num(q[[1]][, 4]),
                        df = degf(subset(dcl2, !is.na(y))), df_all = degf(dcl2))

## Successive-difference scale (4/R) on given weights: units in snum order, R's hadamard(15) (16 x 16).
sd <- apisrs[order(apisrs$snum), ][1:40, ]
H <- 2 * survey:::hadamard(15) - 1
i <- 0:39
a <- i %% 15 + 2; b <- (i + 1) %% 15 + 2
f <- 1 + 2^(-1.5) * (H[a, ] - H[b, ])
rsd <- svrepdesign(data = sd, weights = ~pw, repweights = f * sd$pw, type = "successive-difference",
                   combined.weights = TRUE)
out$sdr <- list(snum = sd$snum, scale = rsd$scale, total_se = num(SE(svytotal(~enroll, rsd))),
                mean_se = num(SE(svymean(~api00, rsd))), factors_first = as.vector(f[1:3, ]))

## withReplicates: a statistic of the weights and data, on every replicate.
wr <- withReplicates(rclus1, function(w, data) sum(w * data$api.stu) / sum(w * data$enroll))
wr2 <- withReplicates(rstrat, function(w, data) c(sum(w * data$api00) / sum(w), sum(w * data$enroll)))
out$with_replicates <- list(theta = num(coef(wr)), se = num(SE(wr)), theta2 = num(coef(wr2)), se2 = num(SE(wr2)))

cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE))
