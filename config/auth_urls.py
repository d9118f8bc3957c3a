"""Django's account pages (``django.contrib.auth.urls``), with the product's own login view:
customer-success staff who belong to no organization land on their console."""

from django.contrib.auth import urls as auth_urls
from django.urls import URLPattern, path

from connections.views.pages import LoginView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    *(
        pattern
        for pattern in auth_urls.urlpatterns
        if not (isinstance(pattern, URLPattern) and pattern.name == "login")
    ),
]
