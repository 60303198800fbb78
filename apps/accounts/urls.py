from django.urls import path

from . import api

urlpatterns = [
    path("auth/signup", api.SignupApi.as_view(), name="auth-signup"),
    path("auth/login", api.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", api.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/verify-email", api.VerifyEmailApi.as_view(), name="auth-verify-email"),
    path("users/me", api.MeApi.as_view(), name="users-me"),
    path("users/me/balance", api.BalanceApi.as_view(), name="wallet-balance"),
    path("users/me/balance/charge", api.BalanceChargeApi.as_view(), name="wallet-charge"),
    path("users/me/balance/transactions", api.BalanceTransactionListApi.as_view(), name="wallet-transactions"),
]
