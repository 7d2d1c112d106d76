"""Sign-in and consent-page error codes: stable, snake_case, each a 4xx.

The pages show `zh` first and the English title in small print; the operator endpoint
answers the same errors as problem details."""

from __future__ import annotations

from typing import ClassVar

from openbank.core.errors import DomainError


class SigninError(DomainError):
    code = "signin_error"
    status = 400
    title = "The sign-in request was refused"
    zh: ClassVar[str] = "请求未能完成"


class SignInFailed(SigninError):
    # One answer for an unknown phone, a wrong password and a locked login: nobody learns
    # from it which phones have credentials.
    code = "sign_in_failed"
    status = 401
    title = "Wrong phone number or password (5 wrong tries lock sign-in for 15 minutes)"
    zh = "手机号或密码错误（连续输错 5 次将锁定 15 分钟）"


class LoginTaken(SigninError):
    code = "login_taken"
    status = 409
    title = "Another customer already signs in with this phone number"
    zh = "该手机号已被其他客户用于登录"


class NotASandboxCustomer(SigninError):
    code = "not_a_sandbox_customer"
    status = 409
    title = "Sandbox sign-in passwords are for sandbox customers only"
    zh = "沙箱登录密码仅可设置给沙箱客户"


class ParRequired(SigninError):
    code = "par_required"
    title = (
        "Only client_id and request_uri are accepted here: push the authorization request"
        " to /oauth2/par first"
    )
    zh = "授权请求须先通过 PAR 提交，此处只接受 client_id 与 request_uri"


class SessionMissing(SigninError):
    code = "sign_in_session_missing"
    title = "Your sign-in session has ended or was not found; start again from the app"
    zh = "登录会话已结束或不存在，请返回应用重新开始"


class CsrfInvalid(SigninError):
    code = "csrf_invalid"
    status = 403
    title = "The form has expired or did not come from this page; please submit it again"
    zh = "表单已失效或并非来自本页面，请重新提交"


class WrongStep(SigninError):
    code = "wrong_step"
    status = 409
    title = "This step is not available now; please finish the current step first"
    zh = "请先完成当前步骤"


class NothingSelected(SigninError):
    code = "nothing_selected"
    status = 422
    title = "Tick at least one account and one permission, or refuse"
    zh = "请至少勾选一个账户和一项权限，或选择拒绝"


class InvalidSelection(SigninError):
    code = "invalid_selection"
    status = 422
    title = "The selection names an account or permission that was not offered"
    zh = "所选账户或权限不在可选范围内"


class InvalidDecision(SigninError):
    code = "invalid_decision"
    title = "Choose Approve or Refuse"
    zh = "请选择同意或拒绝"
